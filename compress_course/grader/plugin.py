"""The pytest side of grading (registered as a pytest11 plugin through ``pytest_plugin``).

Adds:

- ``--submission DIR``: the notebooks the hidden checks grade (default ``solutions/``),
- the ``submission`` fixture: ``submission.load("01_pruning")`` gives that notebook's
  exercise functions, each running in a sandbox (see ``sandbox.RemoteNotebook``),
- the marker every hidden check carries:
  ``@pytest.mark.exercise("fn", points=P, check="errors", weight=W, timeout=S)``; P is the
  exercise's total points, ``check`` the part of the exercise the test belongs to (default
  ``"all"``), ``weight`` that part's share (default 1), ``timeout`` a longer time limit for
  a check that needs one,
- ``--exercise-timeout S``: a per-test time limit, so an infinite loop fails one test,
- ``--notebook-timeout S``: a limit on all the tests of one notebook together,
- ``--grade-report FILE``: a JSON-lines record of what was collected and how each test
  ended, written (and signed) test by test, so a grading process killed half-way still
  leaves what it finished,
- ``--max-examples N``: the grading profile, at most N generated examples per property
  test (explicit examples always run), the same for every learner.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ..i18n import _
from .notebook import DEFAULT_SUBMISSION, ExerciseTimeout, SubmissionError, load_exercises
from .notebook import time_limit as _time_limit
from .report import sign

# Set by the grading process before it calls pytest.main: the key never touches a file.
_PENDING_KEY: bytes | None = None


def pytest_addoption(parser):
    group = parser.getgroup("compress_course", "Compress & Accelerate grading")
    group.addoption("--submission", default=None,
                    help="directory of the notebooks to grade (default: solutions/)")
    group.addoption("--grade-report", default=None,
                    help="append a JSON line per collected check and per result to this file")
    group.addoption("--grade-key-file", default=None,
                    help="file holding the key that signs report lines (read, then deleted)")
    group.addoption("--exercise-timeout", type=float, default=60.0,
                    help="seconds one check may run (default 60)")
    group.addoption("--notebook-timeout", type=float, default=0.0,
                    help="seconds all the checks of one notebook may run together (default: "
                         "no limit)")
    group.addoption("--call-timeout", type=float, default=None,
                    help="seconds one call of a submission's function may run (default: the "
                         "--exercise-timeout)")
    group.addoption("--cell-timeout", type=float, default=60.0,
                    help="seconds the setup cell or one exercise cell may run while loading "
                         "(default 60)")
    group.addoption("--max-examples", type=int, default=0,
                    help="at most this many generated examples per property test (default: "
                         "as each test declares)")
    group.addoption("--in-process", action="store_true",
                    help="run the submission's code inside pytest (debugging only: a "
                         "submission can then tamper with its own grading)")


def load_grading_profile() -> None:
    """Hypothesis settings for grading: deterministic, no database, no shrinking.

    Must run before the hidden checks are imported: ``@settings(...)`` on a test copies the
    profile that is loaded when the module is imported.
    """
    try:
        from hypothesis import HealthCheck, Phase, settings
    except ImportError:
        return
    # No shrinking: a failing submission is reported with the first failing example found,
    # instead of re-running (possibly slow or looping) learner code hundreds of times.
    settings.register_profile(
        "grading", derandomize=True, database=None, deadline=None, print_blob=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much])
    settings.load_profile("grading")


def pytest_configure(config):
    global _PENDING_KEY
    config.addinivalue_line(
        "markers", "exercise(name, points, check, weight, timeout): graded exercise, its "
                   "points, the part of it this test checks and that part's weight")
    key_file = config.getoption("--grade-key-file")
    if _PENDING_KEY is not None:
        config._grade_key, _PENDING_KEY = _PENDING_KEY, None
    elif key_file:
        # Read and delete the key before any submission code starts, so a sandbox cannot
        # forge report lines.
        config._grade_key = Path(key_file).read_bytes()
        Path(key_file).unlink()
    load_grading_profile()


def pytest_collection_modifyitems(config, items):
    cap = config.getoption("--max-examples")
    if not cap:
        return
    from hypothesis import settings

    for item in items:
        test = getattr(item, "obj", None)
        if getattr(test, "is_hypothesis_test", False):
            current = getattr(test, "_hypothesis_internal_use_settings", None) or settings.default
            if current.max_examples > cap:
                test._hypothesis_internal_use_settings = settings(current, max_examples=cap)


class Submission:
    """A directory of notebooks; ``load(stem)`` gives one notebook's exercise functions.

    By default each function runs in a sandboxed child process (``sandbox.RemoteNotebook``);
    with ``in_process`` the exercise cells run here (``notebook.load_exercises``).
    """

    def __init__(self, folder: Path, in_process: bool = False, call_timeout: float = 60.0,
                 cell_timeout: float = 60.0):
        self.folder = folder
        self.in_process = in_process
        self.call_timeout, self.cell_timeout = call_timeout, cell_timeout
        self._cache: dict[str, object] = {}

    def load(self, stem: str):
        if stem not in self._cache:
            if not self.folder.is_dir():
                self._cache[stem] = SubmissionError(
                    _("the submission directory {folder} does not exist").format(
                      folder=self.folder))
            else:
                try:
                    if self.in_process:
                        self._cache[stem] = load_exercises(self.folder / f"{stem}.ipynb",
                                                           timeout=self.cell_timeout)
                    else:
                        from .sandbox import RemoteNotebook

                        self._cache[stem] = RemoteNotebook(self.folder, f"{stem}.ipynb",
                                                           self.call_timeout, self.cell_timeout)
                except SubmissionError as error:
                    self._cache[stem] = error
        loaded = self._cache[stem]
        if isinstance(loaded, SubmissionError):
            raise loaded
        return loaded

    def close(self, stem: str | None = None) -> None:
        for name in [stem] if stem else list(self._cache):
            loaded = self._cache.get(name)
            if hasattr(loaded, "close"):
                loaded.close()


@pytest.fixture(scope="session")
def submission(request):
    option = request.config.getoption("--submission")
    folder = Path(option) if option else DEFAULT_SUBMISSION
    loaded = Submission(folder.resolve(), in_process=request.config.getoption("--in-process"),
                        call_timeout=request.config.getoption("--call-timeout")
                        or request.config.getoption("--exercise-timeout"),
                        cell_timeout=request.config.getoption("--cell-timeout"))
    request.config._grade_submission = loaded
    yield loaded
    loaded.close()


def _write(config, record: dict) -> None:
    path = config.getoption("--grade-report")
    if path:
        key = getattr(config, "_grade_key", None)
        if key:
            record["mac"] = sign(key, record)
        with open(path, "a", encoding="utf-8") as report:
            report.write(json.dumps(record) + "\n")


def exercise_marker(item) -> dict | None:
    """The exercise a test grades: name, points, part (``check``), weight and time limit."""
    marker = item.get_closest_marker("exercise")
    if marker is None:
        return None
    name = marker.args[0] if marker.args else marker.kwargs["name"]
    points = marker.kwargs.get("points", marker.args[1] if len(marker.args) > 1 else 1)
    return {"exercise": name, "points": float(points),
            "check": str(marker.kwargs.get("check", "all")),
            "weight": float(marker.kwargs.get("weight", 1)),
            "timeout": float(marker.kwargs.get("timeout", 0))}


def _notebook(item) -> str:
    return Path(item.path).stem.removeprefix("test_")


def pytest_collection_finish(session):
    for item in session.items:
        exercise = exercise_marker(item)
        if exercise:
            _write(session.config, {"kind": "collected", "nodeid": item.nodeid,
                                    "notebook": _notebook(item), "exercise": exercise["exercise"],
                                    "points": exercise["points"], "check": exercise["check"],
                                    "weight": exercise["weight"]})


def pytest_sessionfinish(session, exitstatus):
    _write(session.config, {"kind": "finished", "exitstatus": int(exitstatus)})


class NotebookTimeUp(ExerciseTimeout):
    """The checks of one notebook, together, ran past ``--notebook-timeout``."""


def _notebook_clock(config, item) -> tuple[float, str]:
    """Seconds left for ``item``'s notebook (inf without a limit), and the notebook's name."""
    limit = config.getoption("--notebook-timeout")
    notebook = _notebook(item)
    if not limit:
        return float("inf"), notebook
    started = config.__dict__.setdefault("_grade_notebook_started", {})
    started.setdefault(notebook, time.monotonic())
    return limit - (time.monotonic() - started[notebook]), notebook


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    exercise = exercise_marker(item)
    if exercise is None:
        yield
        return
    declared = exercise["timeout"]
    left, notebook = _notebook_clock(item.config, item)
    limit = max(item.config.getoption("--exercise-timeout"), declared)
    message = None
    if left < limit:
        limit = max(left, 0.001)
        message = (_("grading {notebook} ran past its {limit:g} s limit while checking "
                     "{exercise}").format(
                     notebook=notebook, limit=item.config.getoption('--notebook-timeout'),
                     exercise=exercise['exercise']))
    from . import sandbox

    sandbox.CALL_TIMEOUT_FLOOR = declared
    try:
        with _time_limit(limit, _("checking {exercise}").format(
                                  exercise=exercise['exercise']), message):
            yield
    finally:
        sandbox.CALL_TIMEOUT_FLOOR = 0.0


def pytest_runtest_teardown(item, nextitem):
    # A notebook's sandboxes go as soon as its last check ends, so a grading process never
    # holds more than one notebook's children.
    if nextitem is None or _notebook(nextitem) != _notebook(item):
        loaded = getattr(item.config, "_grade_submission", None)
        if loaded is not None:
            loaded.close(_notebook(item))


def failure_message(error: BaseException, test_name: str = "") -> str:
    """The reason shown in the grading report for a failed check (never the check's source)."""
    if isinstance(error, (SubmissionError, ExerciseTimeout)):
        text = str(error)
    elif isinstance(error, AssertionError):
        text = str(error).strip().split("\n")[0]
        if not text or text.startswith("assert "):
            text = (_("the hidden check {test} failed").format(test=test_name) if test_name
                    else _("the hidden check of this exercise failed"))
    elif isinstance(error, NotImplementedError):
        text = _("not implemented yet (the cell still raises NotImplementedError)")
    else:
        text = f"{type(error).__name__}: {error}".strip().split("\n")[0]
    for note in getattr(error, "__notes__", []) or []:
        if note.startswith("Falsifying example"):
            compact = " ".join(note.split())
            text += " [" + (compact if len(compact) <= 300 else compact[:297] + "...") + "]"
            break
    return text if len(text) <= 1000 else text[:997] + "..."


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    exercise = exercise_marker(item)
    if exercise is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        passed = report.passed and report.when == "call"
        if report.skipped and report.when == "setup":
            passed, message = True, "skipped by the checks (not graded here)"
        elif passed:
            message = "passed"
        elif call.excinfo is not None and not report.skipped:
            message = failure_message(call.excinfo.value, item.name)
        else:
            message = _("the check was skipped from inside the submission's code")
        _write(item.config, {"kind": "result", "nodeid": item.nodeid, "exercise":
                             exercise["exercise"], "passed": passed, "message": message})


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # A fork server killed by a previous check's sandbox is replaced here, between checks.
    from . import processes

    processes.revive_server()
    # Once a notebook's time is up, its remaining checks fail at once with the reason.
    left, notebook = _notebook_clock(item.config, item)
    if exercise_marker(item) is not None and left <= 0:
        raise NotebookTimeUp(_("grading {notebook} ran past its {limit:g} s limit before "
                               "this check ran").format(
                               notebook=notebook,
                               limit=item.config.getoption('--notebook-timeout')))
