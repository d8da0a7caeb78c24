# The two commands of the README:
#   make demo   installs the toolkit into .venv and renders reports/demo/readout.html + results.json
#   make test   installs the toolkit with its test extras into .venv and runs the whole test suite
# Installation is pinned by constraints.txt (the versions the tests passed with).
# The Spark integration test runs when CI=true (as on CI) or UPLIFT_SPARK=1; it needs Java 17.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test install clean browser

$(VENV)/.base: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PIP) -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PIP) -e ".[test,bench,spark]"
	touch $@

install: $(VENV)/.base

demo: $(VENV)/.base
	$(BIN)/uplift demo

# Headless Chromium for the readout browser test, and a Chinese font for the Chinese readout's
# charts (Debian packages; needs root, as on CI).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q . || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	   fonts-wqy-microhei >/dev/null)

test: $(VENV)/.test browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) reports/demo
