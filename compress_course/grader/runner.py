"""Grading processes: one per submission, forked from a server that keeps everything loaded.

The process tree of a grading run::

    coordinator (this module: the CLI, or grade() called from Python; no learner code)
    └── fork server (multiprocessing "forkserver", started once per coordinator; it
        │            imports torch, pytest, hypothesis, the toolkit and the hidden checks)
        ├── grading process, one per submission (or per share of one submission's
        │   notebooks): pytest over the hidden checks, in-process, report lines signed with
        │   a key that only it and the coordinator hold
        └── sandbox, one per exercise function of the submission being graded (asked for by
            the grading process, forked by the server, so it never holds the key): runs the
            learner's code, see ``sandbox``

A fork costs milliseconds where a fresh interpreter costs seconds of CPU importing torch,
so one submission costs the checks' own work and little else. The server lives as long as
the coordinator, so a class, or many ``grade()`` calls from one Python process, pay for
the imports once.

Limits: each check (``test_timeout``), each call of a learner's function (``call_timeout``),
each notebook's checks together (``timeout``), and the whole submission (``budget``, by
default the notebooks' limits added up). The report is written line by line, so a
grading process stopped at its budget still yields every check it finished, and the rest
get the reason.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..i18n import _
from .notebook import DEFAULT_TESTS
from .processes import _alive, mp_context, server_pid, start_server
from .report import finished, make_report, read_report, summarise

# The deterministic grading profile: at most this many generated examples per property
# test (each test's explicit examples and edge cases always run), the same for every learner.
# Each example is a round trip to a sandbox; 5 keeps every verdict of the mutation set
# (tests/test_mutants.py), with explicit @example cases where generated ones did not.
GRADING_MAX_EXAMPLES = 5


@dataclass
class Limits:
    """Time limits (seconds) and the grading profile of one grading run."""

    timeout: float = 300.0  # all the checks of one notebook
    test_timeout: float = 60.0  # one check
    call_timeout: float | None = None  # one call of a learner's function (default test_timeout)
    cell_timeout: float = 60.0  # the setup cell or one exercise cell, while loading
    budget: float | None = None  # the whole submission (default: timeout x notebooks + 30)
    max_examples: int = GRADING_MAX_EXAMPLES  # 0: as many as each test declares
    all_or_nothing: bool = False  # an exercise earns its points only if every part passes


def notebook_of(test_file: Path) -> str:
    """``tests/exercises/test_01_pruning.py`` grades ``01_pruning.ipynb``."""
    return Path(test_file).stem.removeprefix("test_")


def test_files(tests: str | Path) -> list[Path]:
    """The ``test_*.py`` files of a directory of hidden checks (or the one file given)."""
    tests = Path(tests).resolve()
    files = sorted(tests.glob("test_*.py")) if tests.is_dir() else [tests]
    if not files:
        raise FileNotFoundError(f"no test_*.py files in {tests}")
    return files


# ---------------------------------------------------------------- the grading process

# pytest plugins the hidden checks do not use; each costs a little on every one of ~240 checks
# (logging and warnings capture, per-test fault handler) or at start-up.
_UNUSED_PLUGINS = ("logging", "warnings", "faulthandler", "doctest", "junitxml", "pastebin",
                   "legacypath", "stepwise", "setuponly", "setupplan", "threadexception",
                   "subtests", "debugging", "unittest", "anyio", "platformdirs")


def _grading_process(submission: str, files: list[str], report: str, key: bytes,
                     limits: Limits, workdir: str, coordinator: int, server: int) -> None:
    """Entry point of a grading process (started by the fork server): pytest, in-process."""
    import gc

    from . import plugin, processes, warm

    gc.enable()  # off in the server while it imported (pause_gc)
    processes.start_watchdog(coordinator)
    os.chdir(workdir)
    log = os.open(os.path.join(workdir, "pytest.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ["COMPRESS_COURSE_QUIET"] = "1"
    os.environ.pop("COMPRESS_COURSE_STRICT", None)
    processes.adopt_server(server)  # sandboxes come from the server this process came from
    warm.forget_other_checks({str(Path(f).parent) for f in files})
    plugin._PENDING_KEY = key
    import pytest
    import torch

    torch.set_num_threads(1)  # small tensors: a second thread only spins on a busy machine

    # nbval is not needed to grade, and importing it (nbformat, jsonschema) costs seconds;
    # unraisableexception runs full garbage collections (a torch-sized heap) at the end.
    args = [*files, "-q", "--tb=no", "-p", "no:cacheprovider", "-p", "no:nbval",
            "-p", "no:unraisableexception", "--assert=plain", "--capture=no",
            *[arg for name in _UNUSED_PLUGINS for arg in ("-p", f"no:{name}")],
            "--rootdir", str(Path(files[0]).parent), "--submission", submission,
            "--grade-report", report,
            "--exercise-timeout", str(limits.test_timeout),
            "--call-timeout", str(limits.call_timeout or limits.test_timeout),
            "--cell-timeout", str(limits.cell_timeout),
            "--notebook-timeout", str(limits.timeout),
            "--max-examples", str(limits.max_examples)]
    try:
        code = int(pytest.main(args))
    except BaseException:  # noqa: BLE001 - whatever happened, the report holds what finished
        code = 3
    finally:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


# ---------------------------------------------------------------------- coordinator


def _describe_exit(code: int | None) -> str:
    import signal

    if code is not None and code < 0:
        try:
            return _("killed by {signal}").format(signal=signal.Signals(-code).name)
        except ValueError:
            return _("killed by signal {number}").format(number=-code)
    return _("exit code {code}").format(code=code)


def run_job(submission: Path, files: list[Path], limits: Limits,
            progress: Callable[[list[dict]], None] | None = None, _retry: bool = True
            ) -> list[dict]:
    """Grade ``submission`` with the checks in ``files`` in one grading process.

    Returns one summary entry per exercise (see ``report.summarise``). ``progress``, if
    given, is called with the entries graded so far whenever new results arrive (checks
    not run yet read "not graded yet").
    """
    budget = limits.budget or limits.timeout * len(files) + 30
    with tempfile.TemporaryDirectory(prefix="grade-") as workdir:
        report = Path(workdir) / "report.jsonl"
        key = secrets.token_bytes(32)
        context = mp_context()
        start_server()  # starts the server, or starts it again if it died
        process = context.Process(
            target=_grading_process, name="grading", daemon=False,
            args=(str(submission), [str(f) for f in files], str(report), key, limits,
                  workdir, os.getpid(), server_pid()))
        try:
            process.start()
        except (OSError, EOFError):  # the server died just now (a sandbox may kill it)
            if not _retry:
                raise
            return run_job(submission, files, limits, progress, _retry=False)
        started = time.monotonic()
        stopped, seen = None, -1
        while True:
            # Liveness from /proc, not from the server: a hostile sandbox of another learner
            # may kill the server, which would make every grading process look finished.
            time.sleep(0.25)
            alive = _alive(process.pid)
            if progress is not None:
                size = report.stat().st_size if report.exists() else 0
                if size != seen or not alive:
                    seen = size
                    collected, results = read_report(report, key)
                    progress(summarise(collected, results, _("not graded yet"),
                                       limits.all_or_nothing))
            if not alive:
                break
            if time.monotonic() - started > budget:
                _kill(process.pid)
                stopped = _("the grading of this submission ran past its {budget:g} s budget "
                            "before this check ran").format(budget=budget)
                break
        collected, results = read_report(report, key)
        if stopped is None and not finished(report, key):
            if not collected and _retry:  # it never got going: the server died under it
                return run_job(submission, files, limits, progress, _retry=False)
            code = process.exitcode if _alive(server_pid() or -1) else None
            stopped = (_("the grading process stopped ({exit}) before this check "
                         "ran").format(exit=_describe_exit(code)) if code is not None else
                       _("the grading process stopped before this check ran"))
        graded = {c.get("notebook") for c in collected}
        missing = [f for f in files if notebook_of(f) not in graded]
        if missing and stopped is None:
            log = Path(workdir) / "pytest.log"
            tail = log.read_bytes()[-3000:].decode(errors="replace") if log.exists() else ""
            raise RuntimeError(f"the checks in {', '.join(str(f) for f in missing)} could not "
                               f"be collected:\n{tail}")
    return summarise(collected, results, stopped, limits.all_or_nothing)


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _attempt in range(40):
        if not _alive(pid):
            return
        time.sleep(0.05)


def _limits(limits: Limits | None, overrides: dict) -> Limits:
    limits = Limits(**{**(limits.__dict__ if limits else {}), **overrides})
    return limits


def grade(submission: str | Path, tests: str | Path = DEFAULT_TESTS, workers: int = 1,
          limits: Limits | None = None,
          progress: Callable[[dict], None] | None = None, **overrides) -> dict:
    """Grade every notebook of ``submission`` that ``tests`` has checks for.

    ``workers`` grading processes share the notebooks. Keyword arguments override fields of
    ``Limits`` (``timeout``, ``test_timeout``, ``call_timeout``, ``cell_timeout``,
    ``budget``, ``max_examples``, ``all_or_nothing``). ``progress`` is called with the
    report so far whenever results arrive. Returns the report of the course spec:
    ``{"submission", "total", "max", "exercises": [...]}``.
    """
    submission = Path(submission).resolve()
    limits = _limits(limits, overrides)
    files = test_files(tests)
    shares = [files[i::max(1, workers)] for i in range(min(max(1, workers), len(files)))]
    partial: dict[int, list[dict]] = {}

    def report_progress(index: int, entries: list[dict]) -> None:
        partial[index] = entries
        if progress is not None:
            progress(make_report(submission, _in_order(files, partial.values())))

    with ThreadPoolExecutor(max_workers=len(shares)) as pool:
        results = list(pool.map(
            lambda job: run_job(submission, job[1], limits,
                                lambda entries: report_progress(job[0], entries)),
            enumerate(shares)))
    return make_report(submission, _in_order(files, results))


def _in_order(files: list[Path], parts) -> list[dict]:
    rank = {notebook_of(f): i for i, f in enumerate(files)}
    entries = [e for part in parts for e in part]
    return sorted(entries, key=lambda e: rank.get(e["notebook"], len(rank)))


def is_class_directory(folder: Path) -> bool:
    """A class directory holds one sub-directory of notebooks per learner, no notebooks."""
    folder = Path(folder)
    return (folder.is_dir() and not any(folder.glob("*.ipynb"))
            and any(any(d.glob("*.ipynb")) for d in folder.iterdir() if d.is_dir()))


def grade_class(class_dir: str | Path, tests: str | Path = DEFAULT_TESTS,
                workers: int | None = None, limits: Limits | None = None,
                on_learner: Callable[[str, dict], None] | None = None,
                **overrides) -> dict[str, dict]:
    """Grade every learner directory in ``class_dir``, ``workers`` learners at a time.

    Returns learner name -> report (as ``grade`` returns it), in name order.
    ``on_learner(name, report)`` is called as each learner's grade is ready.
    """
    class_dir = Path(class_dir).resolve()
    limits = _limits(limits, overrides)
    learners = sorted(d for d in class_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = test_files(tests)

    def one(learner: Path) -> dict:
        report = make_report(learner, run_job(learner, files, limits))
        if on_learner is not None:
            on_learner(learner.name, report)
        return report

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        reports = list(pool.map(one, learners))
    return {learner.name: report for learner, report in zip(learners, reports, strict=True)}
