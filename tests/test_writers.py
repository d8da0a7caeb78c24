"""Writers: nothing lost, nothing replaced by accident, nothing half-written.

* concurrent ``uplift assign`` runs on one ledger: every run's rows end up in the ledger (a lock
  beside the ledger serialises read-modify-write);
* no command writes over a file it reads, or over a ledger; an existing output needs ``--overwrite``;
* files written together are replaced together (the ledger and its exclusion log; a readout's
  files), or not at all; a symlinked ledger is updated through its link;
* ``readout`` and ``check`` stop when the spec's assignment settings changed after ``assign``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift.cli import main
from uplift.data.hashing import assign_by_weights

SPEC = """
[experiment]
name = "writers"
unit = "customer_id"
start_date = "2026-01-05"

[assignment]
salt = "writers-salt"
arms = { control = 0.4, offer = 0.6 }
control = "control"

[[exclude]]
reason = "opted_out"
column = "opt_out"
op = "=="
value = 1
"""


def population(n: int, start: int) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    return pd.DataFrame({
        "customer_id": np.arange(start, start + n, dtype=np.int64),
        "segment": rng.choice(["mass", "affluent"], n),
        "opt_out": (rng.random(n) < 0.05).astype("int8"),
    })


WORKER = """
import json, sys
from uplift.cli import main
spec, ledger, out, *pops = sys.argv[1:]
with open(out, "w") as fh:
    for pop in pops:
        rc = main(["assign", spec, "--population", pop, "--ledger", ledger, "--json", "-q", "--wait", "120"])
        fh.write(json.dumps({"population": pop, "rc": rc}) + "\\n")
"""


def test_concurrent_assigns_lose_no_rows(tmp_path):
    """4 processes, each appending 10 disjoint populations to one ledger at the same time: the ledger
    ends with every eligible unit of all 40 populations, each once, in its hash arm."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    ledger = tmp_path / "ledger.parquet"
    workers, rounds, n = 4, 10, 300
    pops: dict[int, list[str]] = {w: [] for w in range(workers)}
    frames = []
    for r in range(rounds):
        for w in range(workers):
            frame = population(n, start=(r * workers + w) * n)
            path = tmp_path / f"pop_{w}_{r}.parquet"
            frame.to_parquet(path, index=False)
            pops[w].append(str(path))
            frames.append(frame)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    procs = [subprocess.Popen([sys.executable, str(script), str(spec), str(ledger), str(tmp_path / f"w{w}.jsonl"),
                               *pops[w]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for w in range(workers)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors
    runs = [json.loads(line) for w in range(workers) for line in (tmp_path / f"w{w}.jsonl").read_text().splitlines()]
    assert len(runs) == workers * rounds and all(r["rc"] == 0 for r in runs), (runs, errors)
    everyone = pd.concat(frames, ignore_index=True)
    eligible = everyone.loc[everyone.opt_out == 0, "customer_id"].to_numpy()
    got = pd.read_parquet(ledger)  # readable: never corrupt
    lost = len(set(eligible) - set(got.customer_id))
    print(f"concurrent assign: {workers} processes x {rounds} rounds, {len(eligible)} eligible units, "
          f"ledger holds {len(got)}, {lost} lost")
    assert lost == 0 and len(got) == len(eligible) and got.customer_id.is_unique
    # each unit in its hash arm (a pure function of salt and id): the same as one uninterrupted run
    expected = assign_by_weights(got.customer_id.to_numpy(), "writers-salt", {"control": 0.4, "offer": 0.6})
    assert (got.arm.astype(str).to_numpy() == np.asarray(expected)).all()
    log = pd.read_parquet(tmp_path / "ledger.exclusions.parquet")
    assert sorted(log.customer_id) == sorted(everyone.loc[everyone.opt_out == 1, "customer_id"])


def test_a_held_lock_makes_a_second_writer_wait_then_stop(tmp_path):
    """While another run holds the ledger's lock, `assign --wait 0.3` stops with one line naming both."""
    from uplift.data.writes import ledger_lock

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    population(200, 0).to_parquet(tmp_path / "pop.parquet", index=False)
    ledger = tmp_path / "ledger.parquet"
    with ledger_lock(ledger, wait=0) as lock:
        proc = subprocess.run([sys.executable, "-m", "uplift", "assign", str(spec), "--population",
                               str(tmp_path / "pop.parquet"), "--ledger", str(ledger), "--wait", "0.3"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert lock.exists()
    err = proc.stderr.strip().splitlines()
    print(err)
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert str(ledger) in err[0] and f"{ledger}.lock" in err[0] and "--wait" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop.parquet", "spec.toml"]  # nothing written, lock gone


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture()
def assigned(tmp_path):
    """A ledger and its exclusion log from a first population; a second population adds to both."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    population(400, 0).to_parquet(tmp_path / "pop1.parquet", index=False)
    population(400, 10_000).to_parquet(tmp_path / "pop2.parquet", index=False)
    ledger = tmp_path / "ledger.parquet"
    assert main(["assign", str(spec), "--population", str(tmp_path / "pop1.parquet"), "--ledger", str(ledger), "-q"]) == 0
    log = tmp_path / "ledger.exclusions.parquet"
    return {"root": tmp_path, "spec": spec, "ledger": ledger, "log": log, "pop2": tmp_path / "pop2.parquet",
            "before": {p.name: sha(p) for p in tmp_path.iterdir()}}


def _assign(a, *extra) -> int:
    return main(["assign", str(a["spec"]), "--population", str(a["pop2"]), "--ledger", str(a["ledger"]), "-q", *extra])


def _untouched(a, capsys, code) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert {p.name: sha(p) for p in a["root"].iterdir()} == a["before"], "a file changed or a temporary file was left"


def test_exclusion_log_that_cannot_be_written_leaves_the_ledger_as_it_was(assigned, monkeypatch, capsys):
    """Disk full while writing the exclusion log: the ledger does not grow (before: it had grown)."""
    real = pd.DataFrame.to_parquet

    def fail_on_log(self, path, *args, **kwargs):
        if ".exclusions." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail_on_log)
    _untouched(assigned, capsys, _assign(assigned))


def test_a_failing_rename_puts_the_exclusion_log_back(assigned, monkeypatch, capsys):
    """The log is renamed first, then the ledger; the ledger's rename fails: the log is the old one again."""
    real = os.replace

    def fail_on_ledger(src, dst, *args, **kwargs):
        if Path(dst).name == "ledger.parquet":
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", fail_on_ledger)
    _untouched(assigned, capsys, _assign(assigned))
    monkeypatch.undo()
    assert _assign(assigned) == 0  # and the same run then succeeds
    assert len(pd.read_parquet(assigned["ledger"])) > len(pd.read_parquet(assigned["root"] / "pop1.parquet").query("opt_out == 0"))


def test_a_symlinked_ledger_is_updated_through_its_link(tmp_path):
    """The link stays a link; its target gets the new rows (before: the link became a regular file)."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    population(300, 0).to_parquet(tmp_path / "pop1.parquet", index=False)
    population(300, 5_000).to_parquet(tmp_path / "pop2.parquet", index=False)
    store = tmp_path / "store"
    store.mkdir()
    real = store / "ledger.parquet"
    link = tmp_path / "ledger.parquet"
    link.symlink_to(real)
    for pop in ("pop1", "pop2"):
        assert main(["assign", str(spec), "--population", str(tmp_path / f"{pop}.parquet"), "--ledger", str(link),
                     "-q", "--exclusions", str(tmp_path / "excl.parquet")]) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert len(pd.read_parquet(real)) == 600 - int(
        pd.concat([pd.read_parquet(tmp_path / f"pop{i}.parquet") for i in (1, 2)]).opt_out.sum())
    assert sorted(p.name for p in store.iterdir()) == ["ledger.parquet"]  # no temporary or lock file left


# --------------------------------------------------------------------------- a campaign to read out


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uplift", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, (proc.returncode, proc.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, demo_spec_path):
    """The demo spec assigned on 3,000 simulated customers, and the campaign's outcomes."""
    root = tmp_path_factory.mktemp("campaign")
    spec = root / "spec.toml"
    spec.write_text(demo_spec_path.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["simulate", "--customers", "3000", "--seed", "3", "--out", str(root / "sim"), "-q"]) == 0
    ledger = root / "ledger.parquet"
    assert main(["assign", str(spec), "--population", str(root / "sim" / "population.parquet"), "--ledger", str(ledger),
                 "-q"]) == 0
    assert main(["simulate", "--population", str(root / "sim" / "population.parquet"), "--ledger", str(ledger),
                 "--seed", "3", "--out", str(root / "campaign"), "-q"]) == 0
    return {"root": root, "spec": spec, "ledger": ledger, "population": root / "sim" / "population.parquet",
            "outcomes": root / "campaign" / "outcomes.parquet", "text": spec.read_text(encoding="utf-8")}


def edited(campaign, tmp_path, old: str, new: str) -> Path:
    assert old in campaign["text"]
    spec = tmp_path / "edited.toml"
    spec.write_text(campaign["text"].replace(old, new, 1), encoding="utf-8")
    return spec


# --------------------------------------------------------------------------- spec drift after assignment


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    """Run the command line in this process: (exit status, stderr lines)."""
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("old, new, key, was, now", [
    ('control = "control"', 'control = "offer"', "control", '"control"', '"offer"'),
    ("arms = { control = 0.10, offer = 0.90 }", "arms = { control = 0.20, offer = 0.80 }", "arms",
     "{ control = 0.1, offer = 0.9 }", "{ control = 0.2, offer = 0.8 }"),
    ('salt = "demo-mortgage-2026q1"', 'salt = "other"', "salt", '"demo-mortgage-2026q1"', '"other"'),
    ('stratify = ["segment"]', "stratify = []", "stratify", '["segment"]', "[]"),
])
def test_a_changed_assignment_setting_stops_check_and_readout(campaign, tmp_path, capsys, old, new, key, was, now):
    """Before: `check` exited 0 and the readout compared the arms the other way round (control swapped)."""
    spec = edited(campaign, tmp_path, old, new)
    runs = [cli(capsys, "check", str(spec), "--ledger", str(campaign["ledger"]))]
    runs += [cli(capsys, "readout", str(spec), "--outcomes", str(campaign["outcomes"]), "--ledger", str(campaign["ledger"]),
                 "--out", str(tmp_path / engine), "--json-only", "--engine", engine) for engine in ("pandas", "duckdb")]
    assert [(code, len(err)) for code, err in runs] == [(2, 1)] * 3, runs
    lines = [err[0] for _, err in runs]
    print(lines[0])
    expected = (f"{campaign['ledger']}: experiment 'demo' was assigned with a different [assignment] {key}: "
                f"the ledger has {key} = {was}, the spec has {key} = {now}; put back {key} = {was} in the spec")
    for line in lines:
        assert expected in line, line
    assert lines[1].split(": error: ")[1] == lines[2].split(": error: ")[1]  # the same message on both backends
    assert not (tmp_path / "pandas").exists() and not (tmp_path / "duckdb").exists()


def test_a_change_that_keeps_the_assignment_passes(campaign, tmp_path, capsys):
    """Another alpha (or metrics) changes the spec's hash, not its assignment: check and readout run."""
    spec = edited(campaign, tmp_path, "alpha = 0.05", "alpha = 0.10")
    assert cli(capsys, "check", str(spec), "--ledger", str(campaign["ledger"]))[0] in (0, 1)
    for engine in ("pandas", "duckdb"):
        code, err = cli(capsys, "readout", str(spec), "--outcomes", str(campaign["outcomes"]), "--ledger",
                        str(campaign["ledger"]), "--out", str(tmp_path / engine), "--json-only", "--engine", engine)
        assert code == 0, err
        assert json.loads((tmp_path / engine / "results.json").read_text())["experiment"] == "demo"


# --------------------------------------------------------------------------- outputs never over inputs


def test_target_never_writes_over_its_inputs_or_a_ledger(campaign, tmp_path, capsys):
    """Before: `target --out ledger.parquet` replaced the ledger (exit 0); the next assign said 'is not a ledger'."""
    before = {k: sha(campaign[k]) for k in ("ledger", "population", "outcomes")}
    base = ["target", str(campaign["spec"]), "--outcomes", str(campaign["outcomes"]), "--population",
            str(campaign["population"]), "--ledger", str(campaign["ledger"]), "-q", "--bootstrap", "5"]
    for out, flag in ((campaign["ledger"], "--ledger"), (campaign["population"], "--population"),
                      (campaign["outcomes"], "--outcomes")):
        code, err = cli(capsys, *base, "--out", str(out), "--overwrite")
        assert code == 2 and len(err) == 1 and f"{out}: is the {flag} input of this run" in err[0], err
    # a ledger not named as an input is still never replaced, even with --overwrite
    code, err = cli(capsys, *base[:-5], "-q", "--out", str(campaign["ledger"]), "--overwrite")
    assert code == 2 and "is a ledger (or its exclusion log) written by `uplift assign`" in err[0], err
    code, err = cli(capsys, *base[:-5], "-q", "--out", str(campaign["root"] / "ledger.exclusions.parquet"), "--overwrite")
    assert code == 2 and "is a ledger" in err[0], err
    assert {k: sha(campaign[k]) for k in ("ledger", "population", "outcomes")} == before
    # an existing output of its own needs --overwrite
    wave = tmp_path / "wave.parquet"
    wave.write_bytes(b"an earlier list")
    code, err = cli(capsys, *base, "--out", str(wave))
    assert code == 2 and f"{wave}: the output file already exists; pass --overwrite" in err[0], err
    assert wave.read_bytes() == b"an earlier list"


def test_simulate_never_replaces_a_campaign_without_overwrite(campaign, tmp_path, capsys):
    """Before: `simulate --out` over an existing campaign folder silently replaced its outcomes."""
    folder = campaign["root"] / "campaign"
    before = {p.name: sha(p) for p in folder.iterdir()}
    args = ["simulate", "--population", str(campaign["population"]), "--ledger", str(campaign["ledger"]), "--seed", "9",
            "--out", str(folder), "-q"]
    code, err = cli(capsys, *args)
    assert code == 2 and len(err) == 1 and f"{folder / 'outcomes.parquet'}: the output file already exists" in err[0]
    assert "--overwrite" in err[0]
    assert {p.name: sha(p) for p in folder.iterdir()} == before
    # a new population over the folder of the population it would replace: refused too
    code, err = cli(capsys, "simulate", "--customers", "100", "--out", str(campaign["root"] / "sim"), "-q")
    assert code == 2 and "already exists" in err[0]
    # with --overwrite, into a copy: replaced, all files of the simulation together
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in folder.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    assert cli(capsys, *args[:-2], str(copy), "-q", "--overwrite")[0] == 0
    assert sha(copy / "outcomes.parquet") != before["outcomes.parquet"]
    assert sorted(p.name for p in copy.iterdir()) == sorted(before)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_readout_never_writes_into_its_inputs(campaign, tmp_path, capsys, engine):
    """A readout whose --out folder is the outcomes' folder of parts is refused (it would add files to its input)."""
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "part-0.parquet").write_bytes(campaign["outcomes"].read_bytes())
    code, err = cli(capsys, "readout", str(campaign["spec"]), "--outcomes", str(parts), "--ledger",
                    str(campaign["ledger"]), "--out", str(parts), "--json-only", "--engine", engine)
    assert code == 2 and len(err) == 1 and f"{parts / 'results.json'}: is the --outcomes input of this run" in err[0]
    assert sorted(p.name for p in parts.iterdir()) == ["part-0.parquet"]


# --------------------------------------------------------------------------- a readout: all files or none


def _old_readout(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "readout.html", "readout.ipynb"):
        (folder / name).write_text(f"the earlier {name}\n", encoding="utf-8")
    return {p.name: sha(p) for p in folder.iterdir()}


def test_a_readout_failing_on_a_full_disk_leaves_the_earlier_readout_whole(campaign, tmp_path, monkeypatch, capsys):
    """The page cannot be renamed into place (disk full): results.json and the notebook are the earlier
    ones again (before: a new results.json beside the old readout.html), and no temporary file is left."""
    out = tmp_path / "report"
    before = _old_readout(out)
    real = os.replace

    def fail_on_page(src, dst, *args, **kwargs):
        if Path(dst).name == "readout.html":
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", fail_on_page)
    code, err = cli(capsys, "readout", str(campaign["spec"]), "--outcomes", str(campaign["outcomes"]), "--ledger",
                    str(campaign["ledger"]), "--out", str(out), "-q")
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert {p.name: sha(p) for p in out.iterdir()} == before  # nothing else in the folder either


def test_ctrl_c_during_a_readout_exits_130_with_one_line(campaign, tmp_path):
    """SIGINT to the readout's process group while the kernel runs: exit 130, one line, no kernel traceback,
    the earlier readout untouched and no temporary folder left."""
    import signal
    import time

    out = tmp_path / "report"
    before = _old_readout(out)
    proc = subprocess.Popen([sys.executable, "-m", "uplift", "readout", str(campaign["spec"]), "--outcomes",
                             str(campaign["outcomes"]), "--ledger", str(campaign["ledger"]), "--out", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    kernel_up = False
    while proc.poll() is None and not kernel_up:  # the kernel's IPC sockets appear in the render folder
        kernel_up = any((d / "kernel-ipc-1").exists() for d in out.glob(".render-*"))
        time.sleep(0.05)
    assert kernel_up, proc.communicate()[1]
    time.sleep(1.0)  # the notebook's cells are running
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    print(repr(err))
    assert proc.returncode == 130 and err.strip().splitlines() == ["uplift readout: interrupted"], err
    assert {p.name: sha(p) for p in out.iterdir()} == before


def test_assign_never_writes_its_ledger_or_log_over_the_population(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    pop = tmp_path / "pop.parquet"
    population(100, 0).to_parquet(pop, index=False)
    before = sha(pop)
    for extra, flag in ((["--ledger", str(pop)], "--ledger"),
                        (["--ledger", str(tmp_path / "l.parquet"), "--exclusions", str(pop)], "--exclusions")):
        code, err = cli(capsys, "assign", str(spec), "--population", str(pop), *extra)
        assert code == 2 and len(err) == 1 and f"{pop}: is the --population input of this run; write {flag}" in err[0]
    assert sha(pop) == before and sorted(p.name for p in tmp_path.iterdir()) == ["pop.parquet", "spec.toml"]
