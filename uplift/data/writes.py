"""Writing outputs safely: one lock per ledger, no output over an input, several files as one unit.

* :func:`ledger_lock` holds an OS-level lock on ``<ledger>.lock`` (beside the ledger's real file,
  so two links to one ledger share it) across a read-modify-write; a second writer waits up to
  ``wait`` seconds, then stops with one line naming the ledger and the lock. POSIX ``fcntl.flock``;
  on Windows (no ``fcntl``) ``msvcrt.locking`` on the lock file's first byte. The lock goes with
  the process (a killed run never leaves a stale lock: the OS releases it; a ``.lock`` file left by
  a killed run is reused, then removed).
* :func:`guard_outputs` refuses an output that is one of the command's inputs (same file by
  ``os.path.samefile``, or inside an input folder), an output that is a ledger or exclusion log
  (a file with a ``spec_sha256`` column, written by ``uplift assign``), and an existing output
  unless ``overwrite`` is set.
* :func:`commit_files` writes every file to a temporary file beside its target, then renames them
  all; if a write or a rename fails, the files renamed so far are put back and the temporary
  files removed, so the targets are all new or all old. A symlink is written through: the
  temporary file sits beside the link's target and is renamed onto it, so the link stays.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from collections.abc import Callable, Iterator, Mapping, Sequence

from uplift.errors import UserError

__all__ = ["LOCK_WAIT", "commit_files", "guard_outputs", "ledger_lock", "real_path", "refuse_inputs", "writes_of_record"]

_POLL = 0.05  # seconds between attempts to take a held lock
LOCK_WAIT = 10.0
"""Seconds a writer waits for another to release a ledger by default (``uplift assign --wait``)."""


def real_path(path: str | Path) -> Path:
    """The file a path names, through any symlinks (a missing file: its would-be real path)."""
    return Path(os.path.realpath(path))


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextlib.contextmanager
def ledger_lock(ledger: str | Path, wait: float) -> Iterator[Path]:
    """Hold the exclusive lock of ``ledger`` (the file ``<ledger>.lock`` beside its real file).

    Waits up to ``wait`` seconds for another holder, then raises a one-line :class:`UserError`.
    The holder removes the lock file before releasing it, so a waiter that locked the removed
    file checks the path still names the file it locked, and otherwise tries again.
    """
    target = real_path(ledger)
    lock = target.with_name(target.name + ".lock")
    created = [d for d in (target.parent, *target.parent.parents) if not d.exists()]  # deepest first
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(float(wait), 0.0)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        if _try_lock(fd):
            try:
                current = os.stat(lock)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(current, os.fstat(fd)):
                break
        os.close(fd)
        if time.monotonic() >= deadline:
            _remove_empty(created)
            raise UserError(
                f"{ledger}: another run is writing this ledger (it holds {lock}; waited {wait:g} s); "
                "wait for it to finish and run again, or give a longer --wait")
        time.sleep(_POLL)
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)  # closing the descriptor releases the lock
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders made for a lock if nothing else was written into them (deepest first)."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            return


def writes_of_record(path: str | Path) -> bool:
    """True if ``path`` is a ledger or an exclusion log (a Parquet/CSV file with a ``spec_sha256`` column)."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            names = pq.read_schema(p).names
        elif p.suffix.lower() in (".csv", ".txt", ".tsv"):
            with open(p, encoding="utf-8", errors="replace") as fh:
                names = [c.strip().strip('"') for c in fh.readline().split(",")]
        else:
            return False
    except Exception:  # noqa: BLE001  (unreadable or not Parquet: not a ledger we could recognise)
        return False
    return "spec_sha256" in names


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    if not folder.is_dir():
        return False
    try:
        real_path(path).relative_to(real_path(folder))
        return True
    except ValueError:
        return False


def guard_outputs(outputs: Sequence[str | Path], inputs: Mapping[str, str | Path | None], overwrite: bool = False,
                  flag: str = "--out") -> None:
    """Refuse to write any of ``outputs`` over an input, a ledger, or (without ``overwrite``) an existing file.

    ``inputs`` maps each input's name on the command line (e.g. ``--population``) to its path.
    Raises a one-line :class:`UserError` naming the output, the input and the fix.
    """
    for out in (Path(o) for o in outputs):
        refuse_inputs(out, inputs, flag)
        if writes_of_record(out):
            raise UserError(f"{out}: is a ledger (or its exclusion log) written by `uplift assign`; "
                            f"give {flag} another file name: a ledger is never replaced by another command")
        if out.exists() and not overwrite:
            what = "folder" if out.is_dir() else "file"
            raise UserError(f"{out}: the output {what} already exists; pass --overwrite to replace it, "
                            f"or give {flag} another name")


def refuse_inputs(out: str | Path, inputs: Mapping[str, str | Path | None], flag: str) -> None:
    """Raise a one-line :class:`UserError` if ``out`` is one of ``inputs`` (the same file, or inside an input folder)."""
    out = Path(out)
    for name, given in inputs.items():
        if given is None or str(given) == "":
            continue
        src = Path(given)
        if _same(out, src) or _inside(out, src):
            raise UserError(f"{out}: is the {name} input of this run; write {flag} somewhere else, "
                            "never over a file the command reads")


def _tempfile_beside(target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    return Path(tmp)


def _unlink(p: Path | None) -> None:
    if p is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


def commit_files(writes: Sequence[tuple[str | Path, Callable[[str], object]]]) -> None:
    """Write several files as one unit: each ``write(temporary_path)`` beside its target, then the renames.

    Order: every file is written and fsynced first (a failure removes the temporary files and
    leaves every target untouched); then the targets are renamed in the order given, after a hard
    link keeps each old file; a failing rename puts the earlier targets back. Symlinked targets
    are written through their link.
    """
    targets = [real_path(p) for p, _ in writes]
    temps: list[Path] = []
    backups: list[Path | None] = []
    done = 0
    try:
        for target, (_, write) in zip(targets, writes):
            target.parent.mkdir(parents=True, exist_ok=True)
            temps.append(_tempfile_beside(target))
            write(str(temps[-1]))
            with open(temps[-1], "rb") as fh:
                os.fsync(fh.fileno())
        for target in targets:
            backups.append(_keep_old(target) if len(targets) > 1 else None)
        for target, tmp in zip(targets, temps):
            os.replace(tmp, target)
            done += 1
    except BaseException:
        for target, old in list(zip(targets, backups))[:done]:  # put back what was replaced
            with contextlib.suppress(OSError):
                if old is not None:
                    os.replace(old, target)
                else:
                    os.unlink(target)
        for p in [*temps, *backups]:
            _unlink(p)
        raise
    for old in backups:
        _unlink(old)


def _keep_old(target: Path) -> Path | None:
    """A hard link to the current ``target`` (None if there is none) to restore it on a failed commit."""
    if not target.exists():
        return None
    keep = _tempfile_beside(target)
    os.unlink(keep)
    try:
        os.link(target, keep)
    except OSError:  # a file system without hard links: a copy
        import shutil

        shutil.copy2(target, keep)
    return keep
