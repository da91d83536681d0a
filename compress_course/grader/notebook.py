"""Loading a submission's exercises from its notebooks.

``load_exercises(path)`` runs a notebook's ``setup`` cell and its ``exercise`` cells (never
the training cells) in a fresh namespace and returns the functions they define. The
sandbox runs it in the child that serves a learner's function, and the capstone uses it
(through ``load_lesson``) to reuse the learner's own functions from lessons 01 and 02.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..i18n import _

SETUP_TAG = "setup"
EXERCISE_TAG = "exercise"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
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
def time_limit(seconds: float, what: str, message: str | None = None) -> Iterator[None]:
    """Raise ``ExerciseTimeout`` if the block runs longer than ``seconds`` (main thread only).

    The exception says ``"<what> took longer than <seconds> s (an infinite loop?)"``, or
    ``message`` when one is given.
    """
    if seconds is None or seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise ExerciseTimeout(message or _("{what} took longer than {seconds:g} s (an infinite "
                                           "loop?)").format(what=what, seconds=seconds))

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
        reason = _("{notebook} defines no function `{item}` in a cell tagged `exercise`").format(
                   notebook=self.name, item=item)
        if self.general_problems:
            reason += " (" + "; ".join(self.general_problems) + ")"
        raise ExerciseMissing(reason)


def read_notebook(path: Path) -> dict:
    """The notebook at ``path`` as a dict, or ``SubmissionError`` naming what is wrong."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(_("missing notebook: {name} is not in {folder}").format(
                                name=path.name, folder=path.parent))
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SubmissionError(_("{name} is not a valid notebook (not JSON: {error})").format(
                                name=path.name, error=error)) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise SubmissionError(_("{name} is not a valid notebook (no list of cells)").format(
                                name=path.name))
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
        raise SubmissionError((
            _("{name} has no code cell tagged `setup`; expected exactly one (restore it from a "
              "fresh copy of the notebook)") if not setup else
            _("{name} has {found} code cell tagged `setup`; expected exactly one (restore it "
              "from a fresh copy of the notebook)")).format(name=name, found=len(setup)))
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
        with time_limit(timeout, _("the setup cell of {name}").format(name=name)):
            exec(compile(_cell_source(cell), f"<{name} cell {index + 1}>", "exec"), namespace)
    except (Exception, ExerciseTimeout) as error:
        raise SubmissionError(_("the setup cell of {name} (cell {cell}) raised {error_type}: "
                                "{error}").format(
                                name=name, cell=index + 1, error_type=type(error).__name__,
                                error=error)) from None

    for index, cell in code_cells:
        if EXERCISE_TAG not in _tags(cell):
            continue
        source = _cell_source(cell)
        names = _defined_names(source)
        try:
            code = compile(source, f"<{name} cell {index + 1}>", "exec")
        except SyntaxError as error:
            message = (_("the exercise cell {cell} of {name} has a syntax error at line "
                         "{error_lineno}: {error_msg}").format(
                         cell=index + 1, name=name, error_lineno=error.lineno,
                         error_msg=error.msg))
            for defined in names or []:
                loaded.problems[defined] = message
            loaded.general_problems.append(message)
            continue
        defined_before = set(namespace)
        try:
            with time_limit(timeout, _("the exercise cell {cell} of {name}").format(
                                       cell=index + 1, name=name)):
                exec(code, namespace)
        except BaseException as error:  # noqa: BLE001 - SystemExit in a cell is the learner's
            if isinstance(error, KeyboardInterrupt):
                raise
            message = (_("the exercise cell {cell} of {name} raised {error_type}: {error}").format(
                         cell=index + 1, name=name, error_type=type(error).__name__, error=error))
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
