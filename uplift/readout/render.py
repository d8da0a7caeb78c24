"""Render a readout: execute the notebook template with a real kernel, export HTML, write results.json.

The template ``uplift/readout/templates/readout.py`` (package data) is jupytext percent-format text with a cell
tagged ``parameters``. :func:`render_readout` converts it to a notebook, runs it
with papermill on the kernel named :data:`KERNEL_NAME`, strips everything that
changes between runs (execution timestamps, kernel-assigned cell ids), exports
HTML with nbconvert's ``basic`` template (inputs hidden, images embedded) and
wraps it in a self-contained page: no ``<script src>``, no CDN, opens offline.
Two renders of the same inputs are byte-identical.

The notebook itself calls :func:`uplift.readout.analysis.analyse` and writes
``results.json``, so the page and the JSON come from one computation;
``--json-only`` (:func:`write_results`) skips the notebook.
"""

from __future__ import annotations

import copy
import html
import shutil
import sys
import json
import logging
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from uplift.errors import DataError, UserError
from uplift.data.files import file_sha256, json_writer, read_table, text_writer, write_json_atomic
from uplift.readout.population_columns import population_columns
from uplift.data.manifest import checksum_list_sha256, input_entries, ledger_spec_hashes
from uplift.data.writes import commit_files
from uplift.data.engines import ENGINES
from uplift.readout.look_history import check_earlier, load_looks
from uplift.spec import Spec
from uplift.text import SOURCE_LANGUAGE, t, use_language

__all__ = ["KERNEL_NAME", "TEMPLATE", "ReadoutPaths", "html_page", "HTML_LANG", "translate_headings", "load_inputs", "check_paths",
           "manifest_of", "analyse_inputs", "write_results", "render_readout", "cell_timings"]

KERNEL_NAME = "python3"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "readout.py"  # package data


@dataclass(frozen=True)
class ReadoutPaths:
    """Where a readout was written, and how long each step took (seconds): ``validate`` (the inputs check
    before anything is written), ``execute`` (the notebook) split by :func:`cell_timings` into ``kernel``,
    ``analysis``, ``chart setup`` and ``report cells``, ``export`` (HTML and the writes) and ``total``."""

    html: Path | None
    results: Path
    notebook: Path | None
    timings: dict[str, float]


def load_inputs(
    spec: Spec,
    outcomes: str | Path | None = None,
    ledger: str | Path | None = None,
    population: str | Path | None = None,
    engine: str = "auto",
    manifest: bool = True,
) -> dict[str, Any]:
    """Open the outcome, ledger and population files named on the command line or in the spec.

    The outcomes become a source (:func:`uplift.data.source.open_source`): with ``engine="auto"``
    (the default) or ``"duckdb"`` left in the files for the embedded DuckDB (only aggregates come
    back), with ``"pandas"`` read into memory. The ledger stays a path, opened beside the outcomes
    when arms are attached. The population, when given, is read into memory (eligibility and targeting are row-level). Returns
    the inputs and their ``manifest`` (:func:`manifest_of`), with ``data_sha256``, the SHA-256 of the
    manifest's checksum list (:func:`uplift.data.manifest.checksum_list_sha256`; not of any one file).
    With ``manifest=False`` the files are not hashed here: ``manifest_args`` holds the arguments of
    :func:`manifest_of` instead (the caller hashes them, e.g. while the engine scans).
    """
    from uplift.data.source import open_source  # the data libraries: not needed to check the paths

    out_path, pop_path = check_paths(spec, outcomes, ledger, population, engine)
    fmt = spec.population.format or None
    inputs: dict[str, Any] = {
        "outcomes": open_source(out_path, format=fmt, label=str(out_path), engine=engine,
                                text_columns=(spec.unit,)),
        "outcomes_label": str(out_path),
    }
    inputs["ledger"] = str(ledger) if ledger else None
    inputs["population"] = None
    if pop_path is not None and pop_path.exists():
        inputs["population"] = read_table(pop_path, "population", text_columns=(spec.unit,))
    used_pop = pop_path if inputs["population"] is not None else None
    inputs["manifest_args"] = (spec, out_path, fmt, inputs["ledger"], used_pop)
    if manifest:
        inputs["manifest"] = manifest_of(*inputs["manifest_args"])
        inputs["data_sha256"] = inputs["manifest"]["data_sha256"]
    names = inputs.get("manifest") or {"files": [{"role": "outcomes", "name": out_path.name},
                                                  {"role": "population", "name": used_pop.name if used_pop else "population"}]}
    population_columns(spec, inputs["outcomes"].columns, inputs["population"], str(out_path), names)
    return inputs


def check_paths(spec: Spec, outcomes: str | Path | None = None, ledger: str | Path | None = None,
                population: str | Path | None = None, engine: str = "auto") -> tuple[Path, Path | None]:
    """The checks of :func:`load_inputs` that read no rows: the engine's name, the outcome, ledger and
    population files named exist, and the ``[population] design`` file reads. Returns the outcomes' path and
    the population's (None when there is none). One line (:class:`~uplift.errors.UserError`) otherwise."""
    if engine not in ENGINES:
        raise UserError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    out_path = spec.input_path(outcomes, "population", "outcomes")
    if out_path is None:
        raise UserError(f"{spec.label}: no outcomes given; pass --outcomes FILE or set [population] outcomes")
    pop_path = spec.input_path(population, "population", "source")
    if not out_path.exists():
        raise DataError(f"{out_path}: outcomes file not found; check the path")
    if ledger and not Path(ledger).exists():
        raise DataError(f"{ledger}: ledger file not found; check the path")
    if population and (pop_path is None or not pop_path.exists()):
        raise DataError(f"{pop_path}: population file not found; check the path")
    if spec.population.design:  # a bad [population] design fails here, before anything is written
        from uplift.readout.design_check import read_design  # imported here: it brings the power functions (SciPy)

        read_design(spec)
    return out_path, pop_path


def manifest_of(spec: Spec, outcomes: Path, fmt: str | None, ledger: str | Path | None,
                population: Path | None) -> dict[str, Any]:
    """The inputs' manifest (results.json ``manifest``): per data file its role, name, size in bytes,
    rows and SHA-256 (equal to ``sha256sum <file>``; a folder is listed part by part), the spec file's
    name and SHA-256, the spec hashes the ledger recorded, and ``data_sha256`` (SHA-256 of the
    checksum list ``<sha256>  <name>``). Library versions are added by the analysis."""
    files = input_entries("outcomes", outcomes, fmt)
    if ledger:
        files += input_entries("ledger", ledger)
    if population is not None:
        files += input_entries("population", population)
    spec_file = None
    if spec.path and Path(spec.path).is_file():
        p = Path(spec.path)
        spec_file = {"name": p.name, "bytes": int(p.stat().st_size), "sha256": file_sha256(p)}
    recorded = ledger_spec_hashes(ledger) if ledger else []
    return {
        "files": files,
        "data_sha256": checksum_list_sha256(files),
        "spec": spec_file,
        "ledger_spec_sha256": recorded,
        "ledger_matches_spec": (spec.sha256 in recorded) if recorded else None,
        "check": "sha256sum <file> prints the sha256 of each file; save the checksum lines as SHA256SUMS beside "
                 "the files and run sha256sum -c SHA256SUMS",
    }


def analyse_inputs(
    spec: Spec,
    outcomes: str | Path | None = None,
    ledger: str | Path | None = None,
    population: str | Path | None = None,
    engine: str = "auto",
    history: Sequence[tuple[str, Any]] = (),
) -> Any:
    """:func:`load_inputs`, then :func:`uplift.readout.analysis.analyse` on them: the readout's
    :class:`~uplift.readout.analysis.Analysis`, for ``--json-only`` and for the notebook alike.

    Three things run at once, each on what it needs: the engine scans the outcomes for the unit
    and arm checks and the metrics' sufficient statistics (:func:`_prefetch`; DuckDB releases
    Python while it works), the input files are hashed for the manifest (hashlib releases it too),
    and this thread imports the statistics (scipy.special, the estimators). The
    analysis then finds those answers kept and checks them in its usual order, so results and messages
    are those of one thread. With ``--json-only`` the unit checks of a Parquet file were asked even
    earlier (:func:`uplift.data.duck_files.ask_ahead`, before this module was imported)."""
    from concurrent.futures import ThreadPoolExecutor

    inputs = load_inputs(spec, outcomes, ledger, population, engine=engine, manifest=False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        scanned = pool.submit(_prefetch, spec, inputs["outcomes"], inputs["ledger"])
        hashed = pool.submit(manifest_of, *inputs["manifest_args"])
        try:
            import scipy.special  # noqa: F401 - the slow import (the distributions' functions), while the engine scans

            from uplift.readout.analysis import analyse

            scanned.result()
            manifest = hashed.result()
        except BaseException:  # Ctrl-C (or an error): stop the engine's scan rather than wait for it
            _stop(pool, inputs["outcomes"])
            raise
    return analyse(
        spec, inputs["outcomes"], ledger=inputs["ledger"], population=inputs["population"],
        manifest=manifest, label=inputs["outcomes_label"], history=history,
    )


def write_results(
    spec: Spec,
    out_dir: str | Path,
    outcomes: str | Path | None = None,
    ledger: str | Path | None = None,
    population: str | Path | None = None,
    engine: str = "auto",
    history: Sequence[str | Path] = (),
    language: str | None = None,
) -> Path:
    """Analyse (:func:`analyse_inputs`) and write ``out_dir/results.json`` only (``uplift readout --json-only``);
    ``history``: the earlier looks' results.json, oldest first (:mod:`uplift.readout.look_history`); ``language``
    (default ``[experiment] language``) is recorded in its ``language`` field."""
    earlier = load_looks(history)
    check_earlier(spec, earlier)
    analysis = analyse_inputs(spec, outcomes, ledger, population, engine=engine, history=earlier)
    path = Path(out_dir) / "results.json"
    write_json_atomic(analysis.to_results(language), path)
    return path


def _stop(pool: Any, source: Any) -> None:
    """Interrupt the engine's scan and wait for the helpers to end, with SIGINT ignored meanwhile: the first
    Ctrl-C is being handled already, and a second one (an interrupted scan can raise one) would otherwise end
    the process by the signal instead of the one line and exit status 130."""
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        stop = getattr(source, "interrupt", None)
        if stop is not None:
            stop()
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _prefetch(spec: Spec, source: Any, ledger: Any) -> None:
    """The engine's first questions, asked ahead (answers kept by the source, errors left to the analysis):
    the unit and arm checks (:func:`uplift.data.arms.prefetch_arms`) and, when the arms are a column of the
    outcomes (no ledger to join first), the metrics' cells (:func:`uplift.metrics.analyse.prefetch_cells`)."""
    if getattr(source, "backend", "") != "ibis":  # rows in memory: nothing is kept, nothing to gain
        return
    from uplift.data.arms import prefetch_arms

    cells = bool(spec.analysis.arm_column or not ledger)
    # the unit checks first (they need no planning); the rows per arm come with the cells (one scan)
    prefetch_arms(source, spec.unit, spec.analysis.arm_column, ledger, rows_per_arm=not cells)
    if cells:
        from uplift.metrics.analyse import prefetch_cells

        prefetch_cells(spec, source)
        prefetch_arms(source, spec.unit, spec.analysis.arm_column, ledger)


def render_readout(
    spec: Spec,
    out_dir: str | Path,
    outcomes: str | Path | None = None,
    ledger: str | Path | None = None,
    population: str | Path | None = None,
    template: str | Path | None = None,
    quiet: bool = True,
    engine: str = "auto",
    history: Sequence[str | Path] = (),
    language: str | None = None,
) -> ReadoutPaths:
    """Execute the template for this spec and data; write readout.html, results.json, readout.ipynb.

    The files named are checked in this process first (:func:`check_paths`), then the notebook runs on
    kernel :data:`KERNEL_NAME`, whose analysis reads the rows once; a bad input fails with one line and
    nothing is written either way. ``language``
    (``--lang``; default ``[experiment] language``) is the page's language: its markdown headings
    are translated here, the rest of its text by the notebook through :func:`uplift.text.t`.
    """
    import jupytext

    from uplift.readout.fonts import check_fonts

    language = language or spec.experiment.language
    check_fonts(language)  # a Chinese page without a Chinese font fails here, before anything is written
    out_dir = Path(out_dir).resolve()  # the kernel runs in a temp folder: give it absolute paths
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # What needs no rows is checked here, before the kernel starts: the earlier looks, the files named. The
    # rows are read once, by the kernel's analysis (its one-line errors come back as this process's).
    check_earlier(spec, load_looks(history))
    check_paths(spec, outcomes, ledger, population, engine)
    timings["validate"] = time.perf_counter() - t0

    template_path = Path(template) if template else TEMPLATE
    nb = jupytext.read(template_path)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    if language != SOURCE_LANGUAGE:
        with use_language(language):
            translate_headings(nb)
    params = {
        "spec_path": str(Path(spec.path).resolve()) if spec.path else "",
        "outcomes_path": str(Path(outcomes).resolve()) if outcomes else "",
        "ledger_path": str(Path(ledger).resolve()) if ledger else "",
        "population_path": str(Path(population).resolve()) if population else "",
        "results_path": "",  # filled below: the notebook writes results.json into a temp dir first
        "engine": engine,
        "history_paths": [str(Path(h).resolve()) for h in history],  # earlier looks, oldest first
        "history_labels": [str(h) for h in history],
        "language": language,
    }
    created = _first_missing(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _render(nb, params, spec, out_dir, quiet, timings, t0)
    except BaseException:
        if created is not None:  # leave no empty folder behind when rendering fails
            shutil.rmtree(created, ignore_errors=True)
        raise


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None if it exists)."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def _render(nb: Any, params: dict[str, str], spec: Spec, out_dir: Path, quiet: bool, timings: dict[str, float],
            t0: float) -> ReadoutPaths:
    import nbformat
    import papermill

    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".render-") as tmp:
        tmp_dir = Path(tmp)
        params["results_path"] = str(tmp_dir / "results.json")
        src = tmp_dir / "template.ipynb"
        nbformat.write(nb, src)
        executed_path = tmp_dir / "executed.ipynb"
        exporter = _exporter_ahead()
        t1 = time.perf_counter()
        # The notebook's own errors come back as one line below; the libraries' log lines (nbclient's
        # "Kernel died" when Ctrl-C reaches the kernel first, the traceback of the execution task it
        # cancels, logged on the way out) would only add noise: logging stays off after a Ctrl-C.
        previous, interrupted = logging.root.manager.disable, False
        logging.disable(logging.CRITICAL)
        try:
            papermill.execute_notebook(
                str(src), str(executed_path), parameters=params, kernel_name=KERNEL_NAME,
                progress_bar=not quiet and sys.stderr.isatty(), log_output=False, cwd=str(tmp_dir),
                kernel_manager_class="uplift.readout.render.LocalKernelManager",
                # Written once at the end, not twice per cell; the kernel is stopped, not asked to exit (its
                # graceful exit took seconds and runs nothing the readout needs: its files are written).
                request_save_on_cell_execute=False, shutdown_kernel="immediate",
            )
        except KeyboardInterrupt:
            interrupted = True
            raise
        except papermill.PapermillExecutionError as exc:
            if exc.ename == "KeyboardInterrupt":  # the kernel got the Ctrl-C first
                interrupted = True
                raise KeyboardInterrupt from None
            first = exc.evalue.splitlines()[0] if exc.evalue else ""
            if exc.ename in ("UserError", "SpecError", "DataError"):
                raise UserError(first) from None
            raise UserError(f"readout notebook failed: {exc.ename}: {first}") from None
        finally:
            if not interrupted:
                logging.disable(previous)
        timings["execute"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        executed = nbformat.read(executed_path, as_version=4)
        timings.update(cell_timings(executed, timings["execute"]))
        _make_deterministic(executed, params)
        with use_language(params["language"]):
            page = _export_html(executed, spec, params["language"], exporter.result())
        timings["export"] = time.perf_counter() - t2
        results = json.loads((tmp_dir / "results.json").read_text(encoding="utf-8"))
        # The three files are replaced together, or (disk full, Ctrl-C) none of them.
        commit_files([(out_dir / "results.json", json_writer(results)),
                      (out_dir / "readout.ipynb", text_writer(nbformat.writes(executed) + "\n")),
                      (out_dir / "readout.html", text_writer(page))])
    timings["total"] = time.perf_counter() - t0
    return ReadoutPaths(
        html=out_dir / "readout.html", results=out_dir / "results.json", notebook=out_dir / "readout.ipynb",
        timings=timings,
    )


def cell_timings(nb: Any, execute: float) -> dict[str, float]:
    """Seconds of the notebook's stages, from papermill's per-cell ``duration``: ``kernel`` (the execution's
    wall time minus its cells': starting and stopping the kernel, papermill's own work), ``analysis``
    (the cell calling ``analyse_inputs``), ``chart setup`` (the cell importing matplotlib and the report
    helpers) and ``report cells`` (the tables and charts, all the other cells). Empty when papermill
    recorded no durations."""
    durations = [(cell.get("source", ""), (cell.get("metadata", {}).get("papermill") or {}).get("duration"))
                 for cell in nb.cells if cell.get("cell_type") == "code"]
    if not durations or any(d is None for _, d in durations):
        return {}
    out = {"analysis": 0.0, "chart setup": 0.0, "report cells": 0.0}
    for source, seconds in durations:
        key = ("analysis" if "analyse_inputs(" in source else
               "chart setup" if "import matplotlib" in source else "report cells")
        out[key] += float(seconds)
    out["kernel"] = max(execute - sum(float(d) for _, d in durations), 0.0)
    return out


def _kernel_manager_class():
    import subprocess

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class _Local(AsyncKernelManager):
        """A kernel reached over local IPC sockets (not TCP): nothing listens on the network. Its own
        stdout/stderr go nowhere (cell output reaches the notebook over the sockets), so a kernel
        torn down by Ctrl-C never prints a traceback."""

        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return _Local


def __getattr__(name: str):  # lazily built so importing uplift.readout.render stays light
    if name == "LocalKernelManager":
        return _kernel_manager_class()
    raise AttributeError(name)


def _make_deterministic(nb: Any, params: dict[str, str]) -> None:
    """Drop run-dependent metadata (timestamps, durations, temp paths) and fix cell ids."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell["execution_count"] = None
            for output in cell.get("outputs", []):
                if "execution_count" in output:
                    output["execution_count"] = None
        if "injected-parameters" in cell.metadata.get("tags", []):
            # The temporary results path changes per run; record the stable inputs only.
            cell["source"] = "\n".join(
                f"{k} = {json.dumps(v if k != 'results_path' else 'results.json')}" for k, v in params.items()
            )


_CSS = """
:root { --ink:#1d2433; --muted:#5b6475; --line:#d9dee7; --good:#0f7b3f; --bad:#b3261e; --warn:#9a6700; --accent:#1f4e99; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink); margin: 0; background: #f6f7f9; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.7rem; margin: 0.2em 0 0.3em; } h2 { font-size: 1.3rem; border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 1.8em; }
h3 { font-size: 1.05rem; margin-top: 1.2em; }
p, li { line-height: 1.45; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right; vertical-align: top; }
th { background: #eef1f6; font-weight: 600; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; }
.jp-OutputArea-output pre, pre { white-space: pre-wrap; font-size: 0.82rem; background: #f4f5f7; padding: 8px; }
.box { border: 2px solid var(--line); border-radius: 6px; padding: 10px 16px; margin: 12px 0; }
.box.good { border-color: var(--good); background: #eef8f1; } .box.bad { border-color: var(--bad); background: #fdf0ef; }
.box.warn { border-color: var(--warn); background: #fdf7e8; }
.status { font-weight: 700; } .good .status { color: var(--good); } .bad .status { color: var(--bad); } .warn .status { color: var(--warn); }
.greyed { opacity: 0.45; filter: grayscale(1); }
.muted { color: var(--muted); font-size: 0.85rem; }
.kpis { display: flex; gap: 14px; flex-wrap: wrap; } .kpi { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 190px; }
.kpi .v { font-size: 1.35rem; font-weight: 700; } .kpi .l { color: var(--muted); font-size: 0.8rem; }
.sig-pos { color: var(--good); font-weight: 600; } .sig-neg { color: var(--bad); font-weight: 600; }
code { font-size: 0.85em; }
@media print { body { background: #fff; } main { padding: 0; max-width: none; } h2 { break-after: avoid; } img, table, .box { break-inside: avoid; } }
"""


def translate_headings(nb: Any) -> None:
    """Translate the markdown cells' headings (``## Decision``) into the current language, in place."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell["source"] = "\n".join(
                re.sub(r"^(#+ )(.+)$", lambda m: m.group(1) + t(m.group(2)), line) for line in cell["source"].split("\n"))


def _html_exporter() -> Any:
    """nbconvert's HTML exporter with the ``basic`` template (no scripts), inputs and prompts left out."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    exporter.exclude_anchor_links = True
    return exporter


def _exporter_ahead() -> Any:
    """A future of a :func:`_html_exporter` with its templates compiled, made on a helper thread while the
    kernel computes the readout (importing nbconvert and compiling took 0.6 s at the end)."""
    from concurrent.futures import ThreadPoolExecutor

    def make() -> Any:
        import nbformat

        exporter = _html_exporter()
        exporter.from_notebook_node(nbformat.v4.new_notebook())  # loads and compiles the templates
        return exporter

    pool = ThreadPoolExecutor(1, thread_name_prefix="uplift-exporter")
    future = pool.submit(make)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future


def _export_html(nb: Any, spec: Spec, language: str, exporter: Any) -> str:
    """HTML body from nbconvert's ``basic`` template (no scripts), wrapped in a self-contained page;
    ``exporter``: a :func:`_html_exporter` already made."""
    page_nb = copy.deepcopy(nb)
    for cell in page_nb.cells:  # warnings and logs belong in the executed notebook, not on the page
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    body, _ = exporter.from_notebook_node(page_nb)
    body = re.sub(r"<script\b[^>]*>.*?</script>", "", body, flags=re.S | re.I)
    return html_page(t("Readout: {name}", name=spec.name), body, language)


HTML_LANG = {"en": "en", "zh": "zh-CN"}
"""The page's ``lang`` attribute per language (BCP 47: Simplified Chinese as written in mainland China)."""


def html_page(title: str, body: str, language: str = SOURCE_LANGUAGE) -> str:
    """A self-contained page (inline CSS, no scripts, nothing fetched) around an HTML ``body``: the
    readout's page, and the design's (:mod:`uplift.readout.design_page`). ``language`` sets the
    ``lang`` attribute and, for Chinese, puts CJK fonts in the page's font list."""
    from uplift.readout.fonts import page_fonts

    css = _CSS + (page_fonts(language) + "\n" if language != SOURCE_LANGUAGE else "")
    return (
        f"<!DOCTYPE html>\n<html lang=\"{HTML_LANG.get(language, language)}\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
