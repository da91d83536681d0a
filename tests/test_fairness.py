"""No hidden requirement (COURSE_SPEC.md 4.3): every error a hidden check demands is stated
in the exercise's text and exercised by its visible check.

Static analysis only (``ast`` and the notebook JSON), so it is fast and runs nothing a
submission wrote. For every ``expect_value_error(..., argument="X")`` reached from a hidden
test marked ``@pytest.mark.exercise("fn", ...)`` (directly or through a module-level helper
of the test file), it demands:

(a) the text of exercise ``fn`` in ``solutions/NN_name.ipynb`` (the markdown cells between
    the previous code cell and the cell defining ``fn``, plus ``fn``'s docstring) names
    ``ValueError`` and ``X`` (``X`` inside a code span of the markdown, or a word of the
    docstring);
(b) the visible check ``check_fn`` in ``compress_course/checks`` reaches
    ``expect_value_error(..., argument="X")``;

and, conversely, (c) every error the visible check demands is also graded by a hidden check,
so the two never disagree on what an exercise must reject. A hidden test that expects a
``ValueError`` some other way (``pytest.raises``) is refused: the meta-test could not see
which argument it demands.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = sorted((ROOT / "tests" / "exercises").glob("test_*.py"))
CHECKS = sorted((ROOT / "compress_course" / "checks").glob("*.py"))


# ----------------------------------------------------------------------------- ast helpers
def _call_name(node: ast.Call) -> str | None:
    """``f(...)`` -> "f"; ``a.b.f(...)`` -> "f"."""
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


@dataclass
class _Function:
    arguments: set[str] = field(default_factory=set)   # argument= of expect_value_error
    unresolved: list[str] = field(default_factory=list)  # argument= that is not a literal
    raises: list[int] = field(default_factory=list)      # lines of pytest.raises(ValueError)
    calls: set[str] = field(default_factory=set)         # plain names it calls


def _scan(node: ast.AST) -> _Function:
    found = _Function()
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        name = _call_name(sub)
        if name == "expect_value_error":
            keyword = next((k for k in sub.keywords if k.arg == "argument"), None)
            if keyword is not None and isinstance(keyword.value, ast.Constant) \
                    and isinstance(keyword.value.value, str):
                found.arguments.add(keyword.value.value)
            else:
                found.unresolved.append(f"line {sub.lineno}")
        elif name == "raises" and sub.args and isinstance(sub.args[0], ast.Name) \
                and sub.args[0].id == "ValueError":
            found.raises.append(sub.lineno)
        elif isinstance(sub.func, ast.Name):
            found.calls.add(sub.func.id)
    return found


def _module_functions(paths: list[Path]) -> dict[str, tuple[ast.FunctionDef, _Function, Path]]:
    functions = {}
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = (node, _scan(node), path)
    return functions


def _reached(name: str, functions: dict) -> _Function:
    """What ``name`` reaches, following calls to other module-level functions."""
    total, seen, todo = _Function(), set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in functions:
            continue
        seen.add(current)
        found = functions[current][1]
        total.arguments |= found.arguments
        total.unresolved += [f"{current} {u}" for u in found.unresolved]
        total.raises += found.raises
        todo += sorted(found.calls)
    return total


def _exercise_of(node: ast.FunctionDef) -> str | None:
    """The exercise name of ``@pytest.mark.exercise("fn", ...)``, if the test carries one."""
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and _call_name(decorator) == "exercise" \
                and decorator.args and isinstance(decorator.args[0], ast.Constant):
            return decorator.args[0].value
    return None


# ------------------------------------------------------------------------ what is demanded
def hidden_demands() -> dict[tuple[str, str], dict[str, list[str]]]:
    """``{(notebook, exercise): {argument: [test names]}}`` over every hidden test file."""
    demands: dict[tuple[str, str], dict[str, list[str]]] = {}
    for path in HIDDEN:
        notebook = path.stem.removeprefix("test_")
        functions = _module_functions([path])
        for name, (node, _, _) in functions.items():
            exercise = _exercise_of(node)
            if exercise is None:
                continue
            entry = demands.setdefault((notebook, exercise), {})
            reached = _reached(name, functions)
            for argument in reached.arguments:
                entry.setdefault(argument, []).append(name)
            for where in reached.unresolved:
                entry.setdefault(f"<not a literal: {where}>", []).append(name)
            for line in reached.raises:
                entry.setdefault(f"<pytest.raises(ValueError) at line {line}>", []).append(name)
    return demands


@functools.cache
def visible_demands() -> dict[str, _Function]:
    """``{exercise: what check_<exercise> reaches}`` over the visible checks package."""
    functions = _module_functions(CHECKS)
    return {name.removeprefix("check_"): _reached(name, functions)
            for name in functions if name.startswith("check_")}


def _is_exercise_or_check(cell: dict) -> bool:
    source = "".join(cell["source"]).strip()
    return "exercise" in cell.get("metadata", {}).get("tags", []) or \
        source.startswith("checks.check_")


def exercise_text(cells: list[dict], exercise: str) -> tuple[str, str] | None:
    """(markdown above the cell defining ``exercise``, its docstring), or None if absent.

    The markdown is every markdown cell back to the previous code cell. An exercise cell
    right after another exercise's cells (one section stating several exercises) reads
    past those cells to the section's markdown.
    """
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == exercise:
                markdown, before = [], index - 1
                while before >= 0 and (cells[before]["cell_type"] != "code" or (
                        not markdown and _is_exercise_or_check(cells[before]))):
                    if cells[before]["cell_type"] == "markdown":
                        markdown.insert(0, "".join(cells[before]["source"]))
                    before -= 1
                return "\n\n".join(markdown), ast.get_docstring(node) or ""
    return None


def _names(text: str, argument: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(argument)}(?!\w)", text) is not None


def text_problems(cells: list[dict], exercise: str, argument: str) -> list[str]:
    """What the exercise text fails to state about a ValueError naming ``argument``."""
    found = exercise_text(cells, exercise)
    if found is None:
        return [f"has no code cell defining `{exercise}`"]
    markdown, docstring = found
    code_spans = " ".join(re.findall(r"`+([^`]+)`+", markdown))
    problems = []
    if "ValueError" not in markdown + docstring:
        problems.append("never names `ValueError`")
    if not (_names(code_spans, argument) or _names(docstring, argument)):
        problems.append(f"never names the argument `{argument}` (in a code span of the "
                        "markdown, or in the docstring)")
    return problems


@functools.cache
def _cells(notebook: str) -> list[dict]:
    return json.loads((ROOT / "solutions" / f"{notebook}.ipynb").read_text())["cells"]


DEMANDS = hidden_demands()
ERROR_DEMANDS = sorted((notebook, exercise, argument)
                       for (notebook, exercise), arguments in DEMANDS.items()
                       for argument in arguments)


def _id(case) -> str:
    return "/".join(case)


def test_hidden_checks_are_found():
    """The scan sees the hidden checks at all (otherwise every test below passes vacuously)."""
    assert DEMANDS, "no @pytest.mark.exercise test found in tests/exercises"
    assert ERROR_DEMANDS, "no hidden check demands a ValueError: the scan is probably broken"


@pytest.mark.parametrize("case", ERROR_DEMANDS, ids=_id)
def test_demanded_error_is_stated_in_the_exercise_text(case):
    notebook, exercise, argument = case
    tests = ", ".join(DEMANDS[(notebook, exercise)][argument])
    assert not argument.startswith("<"), (
        f"tests/exercises/test_{notebook}.py ({tests}) expects a ValueError from `{exercise}` "
        f"through {argument[1:-1]}; use expect_value_error(..., argument=\"<name>\") with a "
        "literal name, so this meta-test can check that the exercise text states it.")
    problems = text_problems(_cells(notebook), exercise, argument)
    assert not problems, (
        f"{notebook}/{exercise}: the hidden check ({tests}) demands a ValueError naming "
        f"`{argument}`, but the exercise text (markdown above the exercise cell and the "
        f"docstring of `{exercise}` in solutions/{notebook}.ipynb) " + " and ".join(problems)
        + f". State it, e.g. \"Raise a `ValueError` naming `{argument}` when ...\".")


@pytest.mark.parametrize("case", ERROR_DEMANDS, ids=_id)
def test_demanded_error_is_exercised_by_the_visible_check(case):
    notebook, exercise, argument = case
    if argument.startswith("<"):
        pytest.skip("reported by test_demanded_error_is_stated_in_the_exercise_text")
    tests = ", ".join(DEMANDS[(notebook, exercise)][argument])
    visible = visible_demands()
    assert exercise in visible, (
        f"{notebook}/{exercise}: the hidden check ({tests}) demands a ValueError naming "
        f"`{argument}`, but compress_course/checks has no visible check `check_{exercise}`.")
    assert argument in visible[exercise].arguments, (
        f"{notebook}/{exercise}: the hidden check ({tests}) demands a ValueError naming "
        f"`{argument}`, but the visible check `check_{exercise}` never calls "
        f"expect_value_error(..., argument=\"{argument}\") (it checks "
        f"{sorted(visible[exercise].arguments) or 'no error at all'}).")


def _visible_cases() -> list[tuple[str, str, str]]:
    owner = {exercise: notebook for notebook, exercise in DEMANDS}
    return sorted((owner[exercise], exercise, argument)
                  for exercise, found in visible_demands().items() if exercise in owner
                  for argument in found.arguments)


@pytest.mark.parametrize("case", _visible_cases(), ids=_id)
def test_visible_error_is_also_graded(case):
    notebook, exercise, argument = case
    graded = DEMANDS[(notebook, exercise)]
    assert argument in graded, (
        f"{notebook}/{exercise}: the visible check `check_{exercise}` demands a ValueError "
        f"naming `{argument}`, but no hidden check in tests/exercises/test_{notebook}.py "
        f"does (they demand {sorted(graded) or 'no error at all'}): grade what the notebook "
        "checks, or stop checking it.")


def test_the_text_rule_can_fail():
    """The rule rejects texts that omit the error or the argument, and reads past the cells
    of an earlier exercise of the same section."""
    def markdown(text):
        return {"cell_type": "markdown", "metadata": {}, "source": [text]}

    def code(text, tags=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": [text]}

    exercise = code('def f(x, bits):\n    """Doc."""\n', ["exercise"])
    stated = [code("import torch"), markdown("Raise a `ValueError` naming `bits` when `bits < 1`."),
              code("def g(y):\n    pass", ["exercise"]), code("checks.check_g(g)"), exercise]
    assert text_problems(stated, "f", "bits") == []
    assert text_problems(stated, "f", "scale") == [
        "never names the argument `scale` (in a code span of the markdown, or in the docstring)"]
    silent = [code("import torch"), markdown("Raise a `ValueError` naming `bits`."),
              code("print(1)"), markdown("Write `f(x, bits)`."), exercise]
    assert text_problems(silent, "f", "bits") == ["never names `ValueError`"]
    own_text = [markdown("Raise a `ValueError` naming `bits`."), code("def g(y):\n    pass",
                ["exercise"]), code("checks.check_g(g)"), markdown("Write `f(x, bits)`."), exercise]
    assert text_problems(own_text, "f", "bits") == ["never names `ValueError`"]
    assert text_problems(silent, "h", "bits") == ["has no code cell defining `h`"]
    assert _names("`bits < 1`", "bits") and not _names("`n_bits`", "bits")
    assert not _names("`self.bits`", "bits")
