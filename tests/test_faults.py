"""Faults: a process killed (SIGKILL) in the middle of appending to the ledger leaves the old
ledger intact, and a re-run completes it, identical to an uninterrupted run.

The ledger is written to a temporary file in the same folder and renamed over the old one
(``uplift.data.files.atomic_write``: write, fsync, ``os.replace``), so at every instant the ledger path
holds either the complete old ledger or the complete new one. These tests kill
``uplift assign`` at many moments (while reading, assigning, and - watched for - while the
temporary file is being written) and check that promise from outside the process.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main

SPEC = """
[experiment]
name = "faults"
unit = "customer_id"
start_date = "2026-01-05"

[assignment]
salt = "faults-salt"
arms = { control = 0.2, offer = 0.5, offer_b = 0.3 }
control = "control"
stratify = ["segment"]

[[exclude]]
reason = "opted_out"
column = "opt_out"
op = "=="
value = 1
"""


def population(n: int, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(start + n)
    return pd.DataFrame({
        "customer_id": np.arange(start, start + n, dtype=np.int64) * 7 + 1_000_000,
        "segment": pd.Categorical(rng.choice(["mass", "affluent", "private"], n, p=[0.7, 0.25, 0.05])),
        "opt_out": (rng.random(n) < 0.03).astype("int8"),
    })


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def setup(tmp_path_factory, full):
    """An old ledger of 50,000 units and a population that adds many more (the large append)."""
    root = tmp_path_factory.mktemp("faults")
    spec = root / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    old_pop = population(50_000)
    old_pop.to_parquet(root / "old.parquet", index=False)
    n_new = 3_000_000 if full else 600_000
    big = pd.concat([old_pop, population(n_new, start=50_000)], ignore_index=True)
    big = big.sample(frac=1.0, random_state=1).reset_index(drop=True)  # new units interleaved with old ones
    big.to_parquet(root / "big.parquet", index=False)
    ledger0 = root / "ledger0.parquet"
    assert main(["assign", str(spec), "--population", str(root / "old.parquet"), "--ledger", str(ledger0), "-q", "--json"]) == 0
    # the reference: the same append, never interrupted
    ref = root / "ref" / "ledger.parquet"
    ref.parent.mkdir()
    ref.write_bytes(ledger0.read_bytes())
    assert main(["assign", str(spec), "--population", str(root / "big.parquet"), "--ledger", str(ref), "-q", "--json"]) == 0
    return {"root": root, "spec": spec, "ledger0": ledger0, "ref": ref, "big": root / "big.parquet"}


def _start(setup, ledger: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uplift.cli", "assign", str(setup["spec"]), "--population", str(setup["big"]),
         "--ledger", str(ledger), "-q", "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _check_intact_then_complete(setup, folder: Path, ledger: Path, old_sha: str) -> None:
    assert ledger.exists(), "the ledger vanished"
    now = sha(ledger)
    # either untouched, or (if the kill came after the rename) already the complete new ledger
    assert now in (old_sha, sha(setup["ref"])), "the ledger was half-written"
    old = pd.read_parquet(setup["ledger0"])
    cur = pd.read_parquet(ledger)
    head = cur.iloc[: len(old)].reset_index(drop=True)
    pd.testing.assert_frame_equal(head.astype(str), old.astype(str))  # earlier units never move
    # a re-run completes it: byte-identical to the run that was never interrupted
    rc = main(["assign", str(setup["spec"]), "--population", str(setup["big"]), "--ledger", str(ledger), "-q", "--json"])
    assert rc == 0
    assert sha(ledger) == sha(setup["ref"])
    # and a further re-run changes nothing
    assert main(["assign", str(setup["spec"]), "--population", str(setup["big"]), "--ledger", str(ledger), "-q", "--json"]) == 0
    assert sha(ledger) == sha(setup["ref"])


def test_sigkill_while_the_new_ledger_is_being_written(setup, tmp_path, capsys):
    """Watch for the temporary file and kill the moment it appears (mid-write)."""
    ledger = tmp_path / "ledger.parquet"
    ledger.write_bytes(setup["ledger0"].read_bytes())
    old_sha = sha(ledger)
    proc = _start(setup, ledger)
    caught = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(".ledger.parquet.") for p in tmp_path.iterdir()):
            os.kill(proc.pid, signal.SIGKILL)
            caught = True
            break
        time.sleep(0.0005)
    proc.wait(timeout=60)
    if not caught:
        pytest.fail(f"the assign process ended (rc {proc.returncode}) before its temporary file was seen; "
                    f"stderr: {proc.stderr.read().decode()[:300]}")
    assert proc.returncode == -signal.SIGKILL
    # killed while the temporary file existed: the ledger is the old one, byte for byte (or, if the rename
    # happened in the microseconds between seeing the file and the kill, the complete new one - never a mix)
    assert sha(ledger) in (old_sha, sha(setup["ref"])), "the ledger was half-written"
    capsys.readouterr()
    _check_intact_then_complete(setup, tmp_path, ledger, old_sha)


@pytest.mark.parametrize("fraction", [0.15, 0.35, 0.55, 0.75, 0.9])
def test_sigkill_at_any_moment(setup, tmp_path, fraction, capsys):
    """Kill after a fraction of an uninterrupted run's duration: reading, assigning, writing or done."""
    timing = setup.setdefault("duration", None)
    if timing is None:
        probe = tmp_path / "probe.parquet"
        probe.write_bytes(setup["ledger0"].read_bytes())
        t0 = time.monotonic()
        p = _start(setup, probe)
        p.wait(timeout=300)
        setup["duration"] = timing = time.monotonic() - t0
        probe.unlink()
    ledger = tmp_path / "ledger.parquet"
    ledger.write_bytes(setup["ledger0"].read_bytes())
    old_sha = sha(ledger)
    proc = _start(setup, ledger)
    time.sleep(timing * fraction)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    capsys.readouterr()
    _check_intact_then_complete(setup, tmp_path, ledger, old_sha)


def test_exception_mid_write_leaves_old_ledger_and_no_temp_file(setup, tmp_path, monkeypatch, capsys):
    """In process: the Parquet writer fails half-way (disk full); the old ledger stays and the temp file goes."""
    ledger = tmp_path / "ledger.parquet"
    ledger.write_bytes(setup["ledger0"].read_bytes())
    old_sha = sha(ledger)
    real = pd.DataFrame.to_parquet

    def half_then_fail(self, path, *a, **k):
        real(self.iloc[: len(self) // 2], path, *a, **k)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_fail)
    code = main(["assign", str(setup["spec"]), "--population", str(setup["big"]), "--ledger", str(ledger), "-q", "--json"])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert sha(ledger) == old_sha
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.parquet"], "a temporary file was left behind"
    capsys.readouterr()
