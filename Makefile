# The two commands of the README:
#   make demo   installs everything into .venv and renders reports/demo/readout.html + results.json
#   make test   installs everything into .venv (with test extras) and runs the whole test suite
# Installation is pinned by constraints.txt (the versions the tests passed with).
# The Spark integration test runs when CI=true (as on CI) or UPLIFT_SPARK=1; it needs Java 17.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean browser

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,bench,spark]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/uplift demo

# Headless Chromium for the readout browser test (Debian packages; needs root, as on CI).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) reports/demo
