"""The pytest side of grading (registered as a pytest11 plugin by the package).

Adds:

- ``--submission DIR``: the notebooks the hidden checks grade (default ``solutions/``),
- the ``submission`` fixture: ``submission.load("01_pruning")`` gives that notebook's
  exercise functions (see ``grading.load_exercises``),
- the ``exercise(name, points)`` marker every hidden check carries,
- ``--exercise-timeout S``: a per-test time limit, so an infinite loop fails one test,
- ``--grade-report FILE``: a JSON-lines record of what was collected and how each test
  ended, written test by test (``compress-course grade`` reads it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .grading import (
    DEFAULT_SUBMISSION,
    ExerciseTimeout,
    SubmissionError,
    load_exercises,
    sign,
    time_limit,
)


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
    group.addoption("--call-timeout", type=float, default=None,
                    help="seconds one call of a submission's function may run (default: the "
                         "--exercise-timeout)")
    group.addoption("--cell-timeout", type=float, default=60.0,
                    help="seconds the setup cell or one exercise cell may run while loading "
                         "(default 60)")
    group.addoption("--in-process", action="store_true",
                    help="run the submission's code inside pytest (debugging only: a "
                         "submission can then tamper with its own grading)")


def pytest_configure(config):
    config.addinivalue_line("markers", "exercise(name, points): graded exercise and its points")
    key_file = config.getoption("--grade-key-file")
    if key_file:
        # Read and delete the key before any submission code starts, so a sandbox cannot
        # forge report lines.
        config._grade_key = Path(key_file).read_bytes()
        Path(key_file).unlink()
    try:
        from hypothesis import HealthCheck, Phase, settings
    except ImportError:
        return
    # Grading must be deterministic and must not write a database next to a submission.
    # No shrinking: a failing submission is reported with the first failing example found,
    # instead of re-running (possibly slow or looping) learner code hundreds of times.
    settings.register_profile(
        "grading", derandomize=True, database=None, deadline=None, print_blob=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much])
    settings.load_profile("grading")


class Submission:
    """A directory of notebooks; ``load(stem)`` gives one notebook's exercise functions.

    By default each function runs in a sandboxed child process (``sandbox.RemoteNotebook``);
    with ``in_process`` the exercise cells run here (``grading.load_exercises``).
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
                    f"the submission directory {self.folder} does not exist")
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

    def close(self) -> None:
        for loaded in self._cache.values():
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


def _exercise(item) -> tuple[str, float] | None:
    marker = item.get_closest_marker("exercise")
    if marker is None:
        return None
    name = marker.args[0] if marker.args else marker.kwargs["name"]
    points = marker.kwargs.get("points", marker.args[1] if len(marker.args) > 1 else 1)
    return name, float(points)


def pytest_collection_finish(session):
    for item in session.items:
        exercise = _exercise(item)
        if exercise:
            _write(session.config, {"kind": "collected", "nodeid": item.nodeid,
                                    "exercise": exercise[0], "points": exercise[1]})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    exercise = _exercise(item)
    if exercise is None:
        yield
        return
    # A check that legitimately needs longer (say, launching process groups) declares it:
    # @pytest.mark.exercise("average_gradients", points=3, timeout=240)
    declared = float(item.get_closest_marker("exercise").kwargs.get("timeout", 0))
    from . import sandbox

    sandbox.CALL_TIMEOUT_FLOOR = declared
    try:
        with time_limit(max(item.config.getoption("--exercise-timeout"), declared),
                        f"checking {exercise[0]}"):
            yield
    finally:
        sandbox.CALL_TIMEOUT_FLOOR = 0.0


def failure_message(error: BaseException) -> str:
    """The one-line reason shown in the grading report for a failed check."""
    if isinstance(error, (SubmissionError, ExerciseTimeout)):
        text = str(error)
    elif isinstance(error, AssertionError):
        text = str(error).strip().split("\n")[0] or "a check failed"
    elif isinstance(error, NotImplementedError):
        text = "not implemented yet (the cell still raises NotImplementedError)"
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
    exercise = _exercise(item)
    if exercise is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        passed = report.passed and report.when == "call"
        if report.skipped and report.when == "setup":
            passed, message = True, "skipped by the checks (not graded here)"
        elif passed:
            message = "passed"
        elif call.excinfo is not None and not report.skipped:
            message = failure_message(call.excinfo.value)
        else:
            message = "the check was skipped from inside the submission's code"
        _write(item.config, {"kind": "result", "nodeid": item.nodeid, "exercise": exercise[0],
                             "passed": passed, "message": message})
