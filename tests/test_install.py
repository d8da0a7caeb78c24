"""Installs anywhere: the wheel built from this checkout, installed into a fresh virtual environment
outside it, runs ``uplift demo`` and ``uplift readout`` from an empty folder.

What this proves: the notebook template and the demo spec travel inside the wheel (package
data), nothing is read from the checkout, and the console script works. Offline: the wheel
is built with ``--no-build-isolation`` by the running environment's setuptools (the test
extra brings one that builds wheels), and installed with ``--no-deps --no-index``.

The new environment gets its third-party dependencies without any download: a ``.pth`` file
in its site-packages lists the running interpreter's purelib and platlib folders
(``sysconfig.get_paths()``). Python appends each line of a ``.pth`` file to ``sys.path``
after the environment's own site-packages, but does NOT process the ``.pth`` files found in
those appended folders; so the checkout's editable install (a ``.pth`` file plus an import
finder in the running site-packages) stays inert, and ``import uplift`` resolves to the
wheel's copy. The dependencies' data files (nbconvert's HTML templates, the python3 kernel
spec) live under the running environment's ``share/jupyter``, which ``JUPYTER_PATH`` names;
a real install puts them in the new environment itself. ``PYTHONPATH`` is removed from the
environment of every command run there.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

# Not copied into the build folder: version control, environments, caches, build outputs, reports.
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache",
    ".hypothesis", "reports",
)
CUSTOMERS = 5000  # the smallest demo worth a readout: the whole test takes well under a minute


def _why_no_wheel_builder() -> str | None:
    """Why the running environment cannot build a wheel offline (None when it can)."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed"
    if int(version.split(".")[0]) >= 77:
        return None
    return f"setuptools {version} cannot read the project's SPDX licence (PEP 639); it needs setuptools >= 77"


@pytest.fixture(scope="module")
def installed(tmp_path_factory, repo_root: Path) -> dict[str, Path]:
    """Build the wheel of the checkout, create a fresh virtual environment and install it there."""
    missing = _why_no_wheel_builder()
    if missing:
        message = f"cannot build the wheel offline: {missing}; install the test extra (pip install -e .[test])"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("install")
    # build from a copy, so the build's own folders (build/, *.egg-info) never land in the checkout
    src = tmp / "src"
    shutil.copytree(repo_root, src, ignore=IGNORE)
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dist), str(src)], cwd=tmp)
    wheels = list(dist.glob("xsell_uplift-*.whl"))
    assert len(wheels) == 1, wheels

    env_dir = tmp / "venv"  # outside the checkout
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    # clean: a PYTHONPATH naming a checkout with an egg-info would make pip skip the install as done
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheels[0])], cwd=tmp, clean=True)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).strip())
    here = sysconfig.get_paths()
    deps = list(dict.fromkeys([here["purelib"], here["platlib"]]))
    (site / "_running_environment.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    return {"wheel": wheels[0], "env": env_dir, "python": python, "uplift": bindir / "uplift", "tmp": tmp}


def _clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH/PYTHONHOME (nothing may point back at the checkout), with
    ``JUPYTER_PATH`` naming the running environment's Jupyter data (templates, kernel spec)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    jupyter = str(Path(sysconfig.get_paths()["data"]) / "share" / "jupyter")
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (jupyter, os.environ.get("JUPYTER_PATH", "")) if p)
    return env


def _run(cmd: list[str], cwd: Path, clean: bool = False) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          env=_clean_env() if clean else None, timeout=600)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_the_wheel_holds_the_package_and_its_data_only(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "uplift/demo.toml" in names and "uplift/readout/templates/readout.py" in names
    assert "uplift/py.typed" in names and "uplift/cli.py" in names
    assert "uplift/locale/zh/LC_MESSAGES/uplift.po" in names  # the Chinese catalogue, read at run time
    tops = {n.split("/", 1)[0] for n in names}
    assert len(tops) == 2 and {t for t in tops if not t.endswith(".dist-info")} == {"uplift"}, tops
    assert not any(n.startswith(("tests/", "experiments/", "notebooks/", "benchmarks/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    # the licence travels with the wheel and its metadata names it as an SPDX expression (PEP 639)
    dist_info = next(t for t in tops if t.endswith(".dist-info"))
    assert f"{dist_info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(installed["wheel"]).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()


def test_uplift_demo_and_readout_run_from_the_installed_wheel(installed, tmp_path, repo_root):
    work = tmp_path / "elsewhere"  # an empty folder: nothing to find beside it
    work.mkdir()
    where = _run([installed["python"], "-c", "import uplift, uplift.demo; print(uplift.__file__); print(uplift.demo.DEMO_SPEC)"],
                 cwd=work, clean=True).splitlines()
    package, demo_spec = Path(where[0]).resolve(), Path(where[1]).resolve()
    env = installed["env"].resolve()
    assert package.is_relative_to(env) and demo_spec.is_relative_to(env), (package, demo_spec)
    assert not package.is_relative_to(repo_root.resolve()) and demo_spec.is_file()

    out = _run([installed["uplift"], "demo", "--out", "demo", "--customers", CUSTOMERS, "--quiet"], cwd=work, clean=True)
    demo = work / "demo"
    assert Path(out.strip().splitlines()[-1]).resolve() == (demo / "readout.html").resolve()
    page = (demo / "readout.html").read_text(encoding="utf-8")
    assert "Readout:" in page and "data:image/png;base64," in page
    results = json.loads((demo / "results.json").read_text(encoding="utf-8"))
    assert {"conversion", "revenue"} <= {row["metric"] for row in results["metrics"]}

    data = demo / "data"
    _run([installed["uplift"], "readout", demo_spec, "--outcomes", data / "outcomes.parquet", "--ledger", data / "ledger.parquet",
          "--population", data / "population.parquet", "--out", "again", "--json-only", "--quiet"], cwd=work, clean=True)
    again = json.loads((work / "again" / "results.json").read_text(encoding="utf-8"))
    assert again == results  # the same inputs give the same results.json
    assert not (work / "again" / "readout.html").exists()
    assert sorted(p.name for p in work.iterdir()) == ["again", "demo"]
