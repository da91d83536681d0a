"""Loading a submission's exercises from its notebooks, and grading a submission.

Two halves:

- ``load_exercises(path)`` runs a notebook's ``setup`` cell and its ``exercise`` cells
  (never the training cells) in a fresh namespace and returns the functions they define.
  The hidden checks use it, and the capstone uses it to reuse the learner's own functions.
- ``grade(submission_dir)`` runs the hidden checks, one notebook at a time, each in a child
  ``pytest`` process with a wall-time limit, so a submission that loops, crashes or floods
  its output costs only the exercises it touches. Results come back through a JSON-lines
  report the child writes test by test, so a child killed half-way still leaves the
  results it finished.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SETUP_TAG = "setup"
EXERCISE_TAG = "exercise"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TESTS = PACKAGE_ROOT / "tests" / "exercises"
DEFAULT_SUBMISSION = PACKAGE_ROOT / "solutions"


class SubmissionError(Exception):
    """A submission (or one of its exercises) could not be loaded; the message says why."""


class ExerciseMissing(SubmissionError, AttributeError):
    """A function the checks need is not defined by the notebook's exercise cells."""


class ExerciseTimeout(BaseException):
    """Code from a submission ran past its time limit.

    A BaseException, like KeyboardInterrupt, so that neither the learner's ``except
    Exception`` nor hypothesis (which would shrink the "failing" example, re-running the
    loop many times) can swallow it.
    """


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise ``ExerciseTimeout`` if the block runs longer than ``seconds`` (main thread only)."""
    if seconds is None or seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise ExerciseTimeout(f"{what} took longer than {seconds:g} s (an infinite loop?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cell_source(cell) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    # IPython magics and shell escapes are not Python; a loaded cell never needs them.
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _defined_names(source: str) -> list[str]:
    """Names a cell binds at its top level: functions, classes, assigned names."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names


def _used_names(source: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def exercise_closure(sources: list[str], functions: set[str]) -> list[int]:
    """Indices of the exercise cells needed to define ``functions``.

    A cell is needed if it defines one of ``functions`` or a name that a needed cell uses
    (an exercise may call exercises defined earlier). A cell whose source cannot be parsed
    is kept when nothing else defines the wanted name, so its syntax error is reported.
    """
    defines = [set(_defined_names(s)) for s in sources]
    needed: set[int] = set()
    wanted = set(functions)
    while True:
        new = {i for i, names in enumerate(defines) if names & wanted} - needed
        if not new:
            break
        needed |= new
        for i in new:
            wanted |= _used_names(sources[i])
    unparsable = [i for i, s in enumerate(sources) if not defines[i] and s.strip()
                  and not _parses(s)]
    if not (set().union(*(defines[i] for i in needed)) >= set(functions)):
        needed |= set(unparsable)
    return sorted(needed)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


@dataclass
class LoadedNotebook:
    """The functions a notebook's exercise cells define.

    Attribute access returns a defined function, or raises ``SubmissionError`` saying why it
    is missing (its cell raised, had a syntax error, or no cell defines it).
    """

    name: str
    namespace: dict = field(repr=False)
    problems: dict[str, str] = field(default_factory=dict)
    general_problems: list[str] = field(default_factory=list)

    def __getattr__(self, item: str):
        if item.startswith("__"):
            raise AttributeError(item)
        if item in self.namespace and item not in self.problems:
            value = self.namespace[item]
            if callable(value) and not hasattr(value, "run_with"):
                try:
                    value.run_with = lambda scenario, *a, _f=value, **k: scenario(_f, *a, **k)
                except (AttributeError, TypeError):
                    pass
            return value
        if item in self.problems:
            raise ExerciseMissing(self.problems[item])
        reason = f"{self.name} defines no function `{item}` in a cell tagged `exercise`"
        if self.general_problems:
            reason += " (" + "; ".join(self.general_problems) + ")"
        raise ExerciseMissing(reason)


def read_notebook(path: Path) -> dict:
    """The notebook at ``path`` as a dict, or ``SubmissionError`` naming what is wrong."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"missing notebook: {path.name} is not in {path.parent}")
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SubmissionError(f"{path.name} is not a valid notebook (not JSON: {error})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise SubmissionError(f"{path.name} is not a valid notebook (no list of cells)")
    return notebook


def load_exercises(path: str | Path, timeout: float = 60.0,
                   functions: set[str] | None = None) -> LoadedNotebook:
    """Run the ``setup`` cell and every ``exercise`` cell of a notebook; return their functions.

    Args:
        path: the ``.ipynb`` file.
        timeout: seconds allowed for running each cell (cells only define functions, so
            anything slow is a mistake such as a loop at the top level).
        functions: if given, run only the exercise cells needed to define these names
            (see ``exercise_closure``), so that one exercise's cell cannot touch another's.

    Raises:
        SubmissionError: the notebook is missing or unreadable, or its setup cell is
            missing, duplicated or fails. A failing *exercise* cell does not raise: the
            functions it defines are reported missing with the reason.
    """
    path = Path(path)
    name = path.name
    cells = read_notebook(path)["cells"]
    code_cells = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    setup = [(i, c) for i, c in code_cells if SETUP_TAG in _tags(c)]
    if functions is not None:
        exercises = [(i, c) for i, c in code_cells if EXERCISE_TAG in _tags(c)]
        keep = exercise_closure([_cell_source(c) for _, c in exercises], set(functions))
        kept = {exercises[k][0] for k in keep}
        code_cells = [(i, c) for i, c in code_cells
                      if i in kept or EXERCISE_TAG not in _tags(c)]
    if len(setup) != 1:
        found = "no" if not setup else f"{len(setup)}"
        raise SubmissionError(f"{name} has {found} code cell tagged `setup`; expected exactly one "
                              "(restore it from a fresh copy of the notebook)")
    # Cells run with the notebook's folder as working directory, as in a Jupyter kernel, so
    # a setup cell may load a sibling notebook (the capstone reuses lessons 01 and 02).
    previous_cwd = os.getcwd()
    os.chdir(path.resolve().parent)
    try:
        return _run_cells(path, code_cells, setup[0], timeout)
    finally:
        os.chdir(previous_cwd)


def _run_cells(path: Path, code_cells: list, setup: tuple, timeout: float) -> LoadedNotebook:
    name = path.name
    module = types.ModuleType(f"submission_{path.stem}")
    module.__file__ = str(path)
    namespace = module.__dict__
    loaded = LoadedNotebook(name=name, namespace=namespace)

    index, cell = setup
    try:
        with time_limit(timeout, f"the setup cell of {name}"):
            exec(compile(_cell_source(cell), f"<{name} cell {index + 1}>", "exec"), namespace)
    except (Exception, ExerciseTimeout) as error:
        raise SubmissionError(f"the setup cell of {name} (cell {index + 1}) raised "
                              f"{type(error).__name__}: {error}") from None

    for index, cell in code_cells:
        if EXERCISE_TAG not in _tags(cell):
            continue
        source = _cell_source(cell)
        names = _defined_names(source)
        try:
            code = compile(source, f"<{name} cell {index + 1}>", "exec")
        except SyntaxError as error:
            message = (f"the exercise cell {index + 1} of {name} has a syntax error at line "
                       f"{error.lineno}: {error.msg}")
            for defined in names or []:
                loaded.problems[defined] = message
            loaded.general_problems.append(message)
            continue
        defined_before = set(namespace)
        try:
            with time_limit(timeout, f"the exercise cell {index + 1} of {name}"):
                exec(code, namespace)
        except BaseException as error:  # noqa: BLE001 - SystemExit in a cell is the learner's
            if isinstance(error, KeyboardInterrupt):
                raise
            message = (f"the exercise cell {index + 1} of {name} raised "
                       f"{type(error).__name__}: {error}")
            for defined in set(names) | (set(namespace) - defined_before):
                loaded.problems[defined] = message
            loaded.general_problems.append(message)
    return loaded


def load_lesson(path: str | Path, timeout: float = 60.0) -> LoadedNotebook:
    """``load_exercises`` for a notebook that reuses another lesson's functions.

    A notebook that cannot be loaded (missing, invalid, no setup cell) does not raise here:
    every function of the returned object raises ``SubmissionError`` with the reason when it
    is looked up, so only the cells that use it fail, with a message saying why.
    """
    try:
        return load_exercises(path, timeout)
    except SubmissionError as error:
        return LoadedNotebook(name=Path(path).name, namespace={},
                              general_problems=[str(error)])


# --------------------------------------------------------------------------- grading


@dataclass
class ExerciseResult:
    notebook: str
    exercise: str
    points: float
    earned: float
    passed: bool
    message: str

    def as_dict(self) -> dict:
        return {"notebook": self.notebook, "exercise": self.exercise, "points": self.points,
                "earned": self.earned, "passed": self.passed, "message": self.message}


def notebook_of(test_file: Path) -> str:
    """``tests/exercises/test_01_pruning.py`` grades ``01_pruning.ipynb``."""
    return test_file.stem.removeprefix("test_")


def sign(key: bytes, record: dict) -> str:
    """HMAC of a report line (without its ``mac``), so forged lines can be told apart."""
    body = json.dumps({k: v for k, v in record.items() if k != "mac"}, sort_keys=True)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _read_report(report: Path, key: bytes) -> tuple[list[dict], list[dict]]:
    collected, results = [], []
    if report.exists():
        for line in report.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or not hmac.compare_digest(
                    str(record.get("mac", "")), sign(key, record)):
                continue  # not written by the checks: ignore forged lines
            (collected if record.get("kind") == "collected" else results).append(record)
    return collected, results


def _summarise(notebook: str, collected: list[dict], results: list[dict],
               stopped: str | None) -> list[ExerciseResult]:
    order: dict[str, float] = {}
    for item in collected:
        order.setdefault(item["exercise"], item["points"])
    by_test = {r["nodeid"]: r for r in results}
    summary = []
    for exercise, points in order.items():
        tests = [c["nodeid"] for c in collected if c["exercise"] == exercise]
        outcomes = [by_test.get(t) for t in tests]
        failed = [o for o in outcomes if o is not None and not o["passed"]]
        missing = [t for t, o in zip(tests, outcomes, strict=True) if o is None]
        if failed:
            message = failed[0]["message"]
        elif missing:
            message = stopped or "grading stopped before this exercise's checks ran"
        else:
            message = f"all {len(tests)} checks passed"
        passed = not failed and not missing
        summary.append(ExerciseResult(notebook, exercise, points, points if passed else 0,
                                      passed, message))
    return summary


def grade_notebook(submission: Path, test_file: Path, timeout: float = 300.0,
                   test_timeout: float = 60.0, call_timeout: float | None = None,
                   cell_timeout: float = 60.0) -> list[ExerciseResult]:
    """Grade one notebook of ``submission`` with the checks in ``test_file``, in a child process."""
    notebook = notebook_of(test_file)
    with tempfile.TemporaryDirectory(prefix="grade-") as workdir:
        report = Path(workdir) / "report.jsonl"
        log = Path(workdir) / "pytest.log"
        key = secrets.token_bytes(32)
        key_file = Path(workdir) / "key"
        key_file.write_bytes(key)
        key_file.chmod(0o600)
        command = [sys.executable, "-m", "pytest", str(test_file), "-q", "--tb=no",
                   "-p", "no:cacheprovider",
                   "--rootdir", str(test_file.parent), "--submission", str(submission),
                   "--grade-report", str(report), "--grade-key-file", str(key_file),
                   "--exercise-timeout", str(test_timeout),
                   "--call-timeout", str(call_timeout or test_timeout),
                   "--cell-timeout", str(cell_timeout)]
        env = {**os.environ, "COMPRESS_COURSE_QUIET": "1"}
        env.pop("COMPRESS_COURSE_STRICT", None)
        stopped = None
        with open(log, "wb") as output:
            try:
                completed = subprocess.run(command, cwd=workdir, env=env, stdout=output,
                                           stderr=subprocess.STDOUT, timeout=timeout)
                if completed.returncode < 0:
                    stopped = (f"the grading process crashed (signal "
                               f"{-completed.returncode}) before this exercise was graded")
            except subprocess.TimeoutExpired:
                stopped = f"grading {notebook} ran past its {timeout:g} s limit"
        collected, results = _read_report(report, key)
        if not collected:
            tail = log.read_bytes()[-2000:].decode(errors="replace")
            raise RuntimeError(f"the checks in {test_file} could not be collected:\n{tail}")
    return _summarise(notebook, collected, results, stopped)


def _test_files(tests: str | Path) -> list[Path]:
    tests = Path(tests).resolve()
    test_files = sorted(tests.glob("test_*.py")) if tests.is_dir() else [tests]
    if not test_files:
        raise FileNotFoundError(f"no test_*.py files in {tests}")
    return test_files


def _report(submission: Path, exercises: list[ExerciseResult]) -> dict:
    return {"submission": str(submission),
            "total": sum(e.earned for e in exercises),
            "max": sum(e.points for e in exercises),
            "exercises": [e.as_dict() for e in exercises]}


def grade(submission: str | Path, tests: str | Path = DEFAULT_TESTS, timeout: float = 300.0,
          test_timeout: float = 60.0, call_timeout: float | None = None,
          cell_timeout: float = 60.0, workers: int = 1) -> dict:
    """Grade every notebook of ``submission`` that ``tests`` has checks for.

    Notebooks are graded ``workers`` at a time, each in its own child process.
    Returns the report of the course spec: ``{"total", "max", "exercises": [...]}``.
    """
    submission = Path(submission).resolve()
    test_files = _test_files(tests)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        parts = pool.map(lambda f: grade_notebook(submission, f, timeout, test_timeout,
                                                  call_timeout, cell_timeout), test_files)
        exercises = [e for part in parts for e in part]
    return _report(submission, exercises)


def is_class_directory(folder: Path) -> bool:
    """A class directory holds one sub-directory of notebooks per learner, no notebooks."""
    folder = Path(folder)
    return (folder.is_dir() and not any(folder.glob("*.ipynb"))
            and any(any(d.glob("*.ipynb")) for d in folder.iterdir() if d.is_dir()))


def grade_class(class_dir: str | Path, tests: str | Path = DEFAULT_TESTS,
                workers: int | None = None, **limits) -> dict[str, dict]:
    """Grade every learner directory in ``class_dir``, ``workers`` notebooks at a time.

    Returns learner name -> report (as ``grade`` returns it).
    """
    class_dir = Path(class_dir).resolve()
    learners = sorted(d for d in class_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    test_files = _test_files(tests)
    jobs = [(learner, test_file) for learner in learners for test_file in test_files]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda job: grade_notebook(job[0], job[1], **limits), jobs))
    reports = {}
    for learner in learners:
        exercises = [e for (who, _), part in zip(jobs, results, strict=True) if who == learner
                     for e in part]
        reports[learner.name] = _report(learner, exercises)
    return reports


def write_class_reports(reports: dict[str, dict], out_dir: str | Path) -> Path:
    """One JSON per learner and ``grades.csv`` (learner x exercise, earned points, total)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for report in reports.values():
        for e in report["exercises"]:
            column = f"{e['notebook']}/{e['exercise']}"
            if column not in columns:
                columns.append(column)
    csv_path = out_dir / "grades.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", *columns, "total", "max"])
        for learner, report in reports.items():
            earned = {f"{e['notebook']}/{e['exercise']}": e["earned"] for e in report["exercises"]}
            writer.writerow([learner, *(f"{earned.get(c, 0):g}" for c in columns),
                             f"{report['total']:g}", f"{report['max']:g}"])
            (out_dir / f"{learner}.json").write_text(json.dumps(report, indent=2) + "\n")
    return csv_path


def format_table(report: dict) -> str:
    """The score table an instructor reads: notebook, exercise, points, reason."""
    rows = [(e["notebook"], e["exercise"], f"{e['earned']:g}/{e['points']:g}",
             ("\u2713 " if e["passed"] else "\u2717 ") + e["message"])
            for e in report["exercises"]]
    headers = ("notebook", "exercise", "points", "result")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers[:3])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers[:3], widths, strict=True)) + "  result"]
    lines.append("  ".join("-" * w for w in widths) + "  ------")
    for row in rows:
        reason = row[3] if len(row[3]) <= 160 else row[3][:157] + "..."
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True))
                     + "  " + reason)
    lines.append(f"total: {report['total']:g} / {report['max']:g}")
    return "\n".join(lines)
