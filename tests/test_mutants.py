"""The mutation set: the hidden checks catch realistic mistakes and accept correct variants.

``tests/mutants/NN_name/<exercise>--<label>.py`` holds one mutant: a first line
``# expect: lose`` (a realistic wrong implementation) or ``# expect: full`` (a correct
alternative), a line ``# why: ...``, then a complete definition of ``<exercise>``. A mutant
submission is ``solutions/`` with that source appended to the exercise cell that defines
``<exercise>`` (so it replaces the function, and the rest of the notebook is the solution).
Graded with the hidden checks, a ``lose`` mutant must earn fewer than the exercise's points,
a ``full`` one all of them, and every other exercise of the notebook keeps full points.

Grading is the slow part, so the submissions of a notebook are graded as one class (one
grading process per core), and mutants of DIFFERENT exercises share one submission whenever
neither can affect the other: exercises are graded independently, and the "others keep full
points" check proves the sharing did not change a verdict. Two mutants are kept apart when one
of them calls (directly or through other exercises) the exercise the other replaces, and an
exercise that calls a replaced one is not held to full points in that submission.
"""

from __future__ import annotations

import ast
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "tests" / "mutants"
SOLUTIONS = ROOT / "solutions"
HIDDEN = ROOT / "tests" / "exercises"


@dataclass(frozen=True)
class Mutant:
    notebook: str
    exercise: str
    label: str
    expect: str  # "lose" or "full"
    why: str
    source: str

    @property
    def name(self) -> str:
        return f"{self.notebook}/{self.exercise}--{self.label}"


def _header(text: str, key: str) -> str | None:
    for line in text.splitlines()[:5]:
        if line.startswith(f"# {key}:"):
            return line.split(":", 1)[1].strip()
    return None


def load_mutants() -> list[Mutant]:
    mutants = []
    for path in sorted(MUTANTS.glob("*/*.py")):
        exercise, _, label = path.stem.partition("--")
        text = path.read_text()
        mutants.append(Mutant(path.parent.name, exercise, label, _header(text, "expect") or "",
                              _header(text, "why") or "", text))
    return mutants


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _cells(notebook: str) -> list[dict]:
    return json.loads((SOLUTIONS / f"{notebook}.ipynb").read_text())["cells"]


def _is_exercise(cell: dict) -> bool:
    return cell["cell_type"] == "code" and "exercise" in cell.get("metadata", {}).get("tags", [])


def exercise_functions(notebook: str) -> dict[str, tuple[int, set[str]]]:
    """``{function: (index of its exercise cell, names its body uses)}`` for a solved notebook."""
    functions = {}
    for index, cell in enumerate(_cells(notebook)):
        if not _is_exercise(cell):
            continue
        for node in ast.parse("".join(cell["source"])).body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = (index, _used_names(node))
    return functions


def _closure(names: set[str], functions: dict[str, tuple[int, set[str]]]) -> set[str]:
    """The exercise functions reachable from ``names`` through the solution's calls."""
    reached, todo = set(), [n for n in names if n in functions]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += [n for n in functions[name][1] if n in functions]
    return reached


def mutant_calls(mutant: Mutant, functions: dict) -> set[str]:
    """The other exercises the mutant's code reaches (its own name excluded)."""
    tree = ast.parse(mutant.source)
    return _closure(_used_names(tree), functions) - {mutant.exercise}


def solution_calls(exercise: str, functions: dict) -> set[str]:
    return _closure(functions[exercise][1], functions) - {exercise}


def rounds_for(mutants: list[Mutant], functions: dict) -> list[list[Mutant]]:
    """Group a notebook's mutants into as few submissions as the dependencies allow."""
    calls = {m: mutant_calls(m, functions) for m in mutants}
    rounds: list[list[Mutant]] = []
    # Exercises with the most mutants first, so that greedy packing stays short.
    per_exercise: dict[str, int] = {}
    for m in mutants:
        per_exercise[m.exercise] = per_exercise.get(m.exercise, 0) + 1
    for m in sorted(mutants, key=lambda m: (-per_exercise[m.exercise], m.exercise, m.label)):
        for group in rounds:
            if all(o.exercise != m.exercise and o.exercise not in calls[m]
                   and m.exercise not in calls[o] for o in group):
                group.append(m)
                break
        else:
            rounds.append([m])
    return rounds


def build_submission(folder: Path, notebook: str, mutants: list[Mutant],
                     functions: dict) -> None:
    """``solutions/`` copied to ``folder``, with each mutant appended to its exercise's cell."""
    folder.mkdir(parents=True)
    for path in SOLUTIONS.glob("*.ipynb"):
        shutil.copy(path, folder / path.name)
    target = folder / f"{notebook}.ipynb"
    document = json.loads(target.read_text())
    for mutant in mutants:
        cell = document["cells"][functions[mutant.exercise][0]]
        source = "".join(cell["source"]).rstrip("\n")
        cell["source"] = (source + "\n\n\n# --- mutant " + mutant.label + "\n"
                          + mutant.source).splitlines(keepends=True)
    target.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def grade_rounds(class_dir: Path, test_file: Path) -> dict[str, dict]:
    """Grade every round submission in ``class_dir`` through the grader's public Python API,
    one grading process per core at a time (``grade_class``): ``{round: report}``."""
    from compress_course.grader import grade_class

    return grade_class(class_dir, tests=test_file)


ALL = load_mutants()
NOTEBOOKS = sorted({m.notebook for m in ALL})


# ------------------------------------------------------------------ fast, static checks

def _graded_exercises() -> dict[str, set[str]]:
    """``{notebook: exercises}`` graded by the hidden checks (their pytest markers)."""
    graded: dict[str, set[str]] = {}
    for path in sorted(HIDDEN.glob("test_*.py")):
        notebook = path.stem.removeprefix("test_")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "exercise" and node.args and \
                    isinstance(node.args[0], ast.Constant):
                graded.setdefault(notebook, set()).add(node.args[0].value)
    return graded


def test_mutants_are_well_formed():
    problems = []
    for m in ALL:
        where = f"tests/mutants/{m.name}.py"
        if m.expect not in ("lose", "full"):
            problems.append(f"{where}: first lines need `# expect: lose` or `# expect: full`")
        if not m.why:
            problems.append(f"{where}: needs a `# why: ...` line saying the mistake or why it is right")
        if not m.label:
            problems.append(f"{where}: name it <exercise>--<short-label>.py")
        if not (SOLUTIONS / f"{m.notebook}.ipynb").exists():
            problems.append(f"{where}: no solutions/{m.notebook}.ipynb")
            continue
        if m.exercise not in exercise_functions(m.notebook):
            problems.append(f"{where}: no exercise cell of {m.notebook} defines {m.exercise}")
        defined = [n.name for n in ast.parse(m.source).body if isinstance(n, ast.FunctionDef)]
        if m.exercise not in defined:
            problems.append(f"{where}: does not define `{m.exercise}` at module level")
    assert not problems, "\n".join(problems)


def test_every_graded_exercise_has_mutants():
    """At least 3 realistic wrong implementations and 1 correct alternative per exercise."""
    problems = []
    for notebook, exercises in sorted(_graded_exercises().items()):
        for exercise in sorted(exercises):
            mine = [m for m in ALL if (m.notebook, m.exercise) == (notebook, exercise)]
            lose = sum(m.expect == "lose" for m in mine)
            full = sum(m.expect == "full" for m in mine)
            if lose < 3 or full < 1:
                problems.append(f"{notebook}/{exercise}: {lose} `lose` and {full} `full` mutants "
                                f"in tests/mutants/{notebook}/; need at least 3 and 1.")
    assert not problems, "\n".join(problems)


def test_rounds_keep_dependent_mutants_apart():
    """The packing never puts a mutant with one of the exercises it calls."""
    for notebook in NOTEBOOKS:
        functions = exercise_functions(notebook)
        mutants = [m for m in ALL if m.notebook == notebook and m.exercise in functions]
        rounds = rounds_for(mutants, functions)
        assert sorted(m.name for r in rounds for m in r) == sorted(m.name for m in mutants)
        for group in rounds:
            replaced = [m.exercise for m in group]
            assert len(set(replaced)) == len(replaced), f"{notebook}: one exercise twice in {group}"
            for m in group:
                assert not mutant_calls(m, functions) & set(replaced), (
                    f"{m.name} shares a submission with a mutant of an exercise it calls")


# ------------------------------------------------------------------ the grading itself

@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_mutants_get_their_verdict(notebook, tmp_path):
    functions = exercise_functions(notebook)
    mutants = [m for m in ALL if m.notebook == notebook]
    test_file = HIDDEN / f"test_{notebook}.py"
    problems, lines = [], []
    rounds = rounds_for(mutants, functions)
    for number, group in enumerate(rounds):
        build_submission(tmp_path / f"round{number:02d}", notebook, group, functions)
    reports = grade_rounds(tmp_path, test_file)
    for number, group in enumerate(rounds):
        report = reports[f"round{number:02d}"]
        results = {e["exercise"]: e for e in report["exercises"] if e["notebook"] == notebook}
        replaced = {m.exercise for m in group}
        for m in group:
            result = results.get(m.exercise)
            if result is None:
                problems.append(f"{m.name}: the report has no result for {m.exercise}")
                continue
            earned, points = result["earned"], result["points"]
            lines.append(f"{m.name:<70} expect {m.expect:<4}  earned {earned:g}/{points:g}")
            if m.expect == "lose" and earned >= points:
                problems.append(
                    f"{m.name} (expect lose) earned {earned:g}/{points:g}: the hidden checks do "
                    f"not catch this mistake ({m.why})")
            if m.expect == "full" and earned < points:
                problems.append(
                    f"{m.name} (expect full) earned {earned:g}/{points:g}: a correct alternative "
                    f"({m.why}) loses points: {result['message']}")
        for exercise, result in results.items():
            if exercise in replaced or solution_calls(exercise, functions) & replaced:
                continue
            if result["earned"] < result["points"]:
                problems.append(
                    f"{notebook}/{exercise} is not mutated in the submission with "
                    f"{sorted(m.label for m in group)}, yet earned {result['earned']:g}/"
                    f"{result['points']:g}: {result['message']}")
    print("\n".join(lines))
    assert not problems, "\n".join(problems)
