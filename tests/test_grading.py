"""Grading: the notebook loader's reasons, partial credit, budgets, the score table, the
class CSV, Gradescope's results.json and the autograder bundle.

Most tests grade a toy lesson written here (two tiny exercises with named parts), so they
test the grader and not the course's lessons; the autograder test runs the course's own
checks on ``solutions/`` and on the blank ``notebooks/``.
"""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from compress_course import cli, grading
from compress_course.grader import report as reports
from compress_course.grading import SubmissionError, load_exercises

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "solutions" / "00_baseline.ipynb"

# ------------------------------------------------------------------ the toy lesson

SETUP = "import time\n"
ADD = '''def add(a, b):
    """a + b for numbers; a ValueError naming `a` when a is negative."""
    if a < 0:
        raise ValueError("a must be >= 0")
    return a + b
'''
TWICE = '''def twice(x):
    return 2 * x
'''
TOY_CHECKS = '''"""Checks of the toy lesson: add has three parts, twice one."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compress_course.checks import expect_value_error


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load("00_toy")


@pytest.mark.exercise("add", points=4, check="main property", weight=2)
@given(a=st.integers(0, 100), b=st.integers(-100, 100))
def test_add_adds(nb, a, b):
    got = nb.add(a, b)
    assert got == a + b, f"add({a}, {b}) returned {got}; expected {a + b}."


@pytest.mark.exercise("add", points=4, check="edge cases", weight=1)
def test_add_zero(nb):
    assert nb.add(0, 0) == 0, "add(0, 0) should be 0."


@pytest.mark.exercise("add", points=4, check="errors", weight=1)
def test_add_rejects_negative(nb):
    expect_value_error(nb.add, -1, 2, argument="a")


@pytest.mark.exercise("twice", points=1)
def test_twice(nb):
    assert nb.twice(3) == 6, f"twice(3) returned {nb.twice(3)}; expected 6."
'''


def code_cell(source: str, tags=()) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": list(tags)},
            "outputs": [], "source": source}


def toy_notebook(add: str = ADD, twice: str = TWICE, setup: str = SETUP) -> dict:
    return {"cells": [code_cell(setup, ["setup"]), code_cell(add, ["exercise"]),
                      code_cell(twice, ["exercise"]), code_cell("raise SystemExit('training')")],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def toy_checks(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checks")
    (folder / "test_00_toy.py").write_text(TOY_CHECKS)
    return folder


def write(folder: Path, notebook: dict, name="00_toy.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(notebook))
    return path


def by_name(report: dict) -> dict:
    return {e["exercise"]: e for e in report["exercises"]}


# ----------------------------------------------------------------------- the loader


def solved_baseline() -> dict:
    return json.loads(BASELINE.read_text())


def exercise_cells(notebook):
    return [c for c in notebook["cells"] if "exercise" in c.get("metadata", {}).get("tags", [])]


def test_loads_the_solutions_functions():
    loaded = load_exercises(BASELINE)
    assert loaded.count_parameters.__name__ == "count_parameters"
    with pytest.raises(SubmissionError, match="defines no function `nope`"):
        loaded.nope  # noqa: B018
    assert not hasattr(loaded, "nope")


def test_training_cells_never_run(tmp_path):
    load_exercises(write(tmp_path, toy_notebook())).add  # noqa: B018


def test_missing_and_invalid_notebooks(tmp_path):
    with pytest.raises(SubmissionError, match="missing notebook: 00_baseline.ipynb"):
        load_exercises(tmp_path / "00_baseline.ipynb")
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(SubmissionError, match="bad.ipynb is not a valid notebook"):
        load_exercises(tmp_path / "bad.ipynb")


@pytest.mark.parametrize("count", [0, 2])
def test_setup_cell_must_be_unique(tmp_path, count):
    notebook = toy_notebook()
    notebook["cells"][0]["metadata"]["tags"] = []
    for _ in range(count):
        notebook["cells"].append(code_cell(SETUP, ["setup"]))
    with pytest.raises(SubmissionError, match="code cell tagged `setup`"):
        load_exercises(write(tmp_path, notebook))


def test_a_broken_exercise_cell_costs_only_its_functions(tmp_path):
    loaded = load_exercises(write(tmp_path, toy_notebook(add="def add(a, b:\n    return 1\n")))
    with pytest.raises(SubmissionError, match="syntax error"):
        loaded.add  # noqa: B018
    assert callable(loaded.twice)
    loaded = load_exercises(write(tmp_path, toy_notebook(
        add="def add(a, b):\n    return 1\nraise RuntimeError('boom')\n")))
    with pytest.raises(SubmissionError, match="raised RuntimeError: boom"):
        loaded.add  # noqa: B018


def test_a_looping_cell_times_out(tmp_path):
    loaded = load_exercises(write(tmp_path, toy_notebook(add="while True:\n    pass\n")),
                            timeout=1)
    with pytest.raises(SubmissionError, match="took longer than 1 s"):
        loaded.add  # noqa: B018


# ------------------------------------------------------------------ partial credit


def test_partial_credit_splits_points_by_weight(tmp_path, toy_checks):
    # No ValueError for a negative `a`: the "errors" part (weight 1 of 4) is lost.
    write(tmp_path / "learner", toy_notebook(add="def add(a, b):\n    return a + b\n"))
    report = grading.grade(tmp_path / "learner", toy_checks)
    add = by_name(report)["add"]
    assert (add["earned"], add["points"], add["passed"]) == (3, 4, False)
    parts = {c["name"]: c for c in add["checks"]}
    assert list(parts) == ["main property", "edge cases", "errors"]
    assert [parts[n]["points"] for n in parts] == [2, 1, 1]
    assert parts["main property"]["passed"] and parts["edge cases"]["passed"]
    assert not parts["errors"]["passed"] and parts["errors"]["earned"] == 0
    assert "expected a ValueError naming `a`" in parts["errors"]["message"]
    assert set(parts["errors"]) == {"name", "weight", "points", "earned", "passed", "message"}
    assert report["total"] == 3 + 1 and report["max"] == 5

    table = grading.format_table(report)
    assert "3/4" in table and "1 of 3 parts failed" in table
    assert "\u2717 errors (0/1): add(-1, 2) returned normally; expected a ValueError naming `a`." \
        in " ".join(table.split())
    assert "\u2713 main property (2/2)" in table

    strict = grading.grade(tmp_path / "learner", toy_checks, all_or_nothing=True)
    assert by_name(strict)["add"]["earned"] == 0 and strict["total"] == 1


def test_a_wrong_answer_names_input_and_expectation_in_full(tmp_path, toy_checks):
    # The table wraps long reasons instead of cutting them where they say what was expected.
    long = "x" * 150
    write(tmp_path / "learner", toy_notebook(
        add=f"def add(a, b):\n    raise RuntimeError('{long} the end')\n"))
    table = grading.format_table(grading.grade(tmp_path / "learner", toy_checks))
    assert "the end" in table and "..." not in table
    assert all(len(line) <= 100 for line in table.splitlines())


def test_grade_reports_a_reason_for_every_failure_and_goes_on(tmp_path, toy_checks):
    # add loops forever when called; twice stays correct
    write(tmp_path / "learner", toy_notebook(add="def add(a, b):\n    while True:\n        pass\n"))
    report = grading.grade(tmp_path / "learner", toy_checks, call_timeout=2)
    add, twice = by_name(report)["add"], by_name(report)["twice"]
    assert add["earned"] == 0
    assert "running add took longer than 2 s" in add["message"]
    assert twice["passed"], twice["message"]
    assert report["total"] == twice["points"]


def test_a_budget_overrun_keeps_what_was_graded(tmp_path, toy_checks):
    # add's checks run first and pass; twice sleeps past the whole submission's budget.
    write(tmp_path / "learner", toy_notebook(twice="def twice(x):\n    time.sleep(300)\n"))
    seen = []
    report = grading.grade(tmp_path / "learner", toy_checks, budget=20, call_timeout=200,
                           test_timeout=200, progress=seen.append)
    add, twice = by_name(report)["add"], by_name(report)["twice"]
    assert add["passed"] and add["earned"] == 4, add["message"]
    assert twice["earned"] == 0 and "ran past its 20 s budget" in twice["message"]
    assert seen and any(by_name(r).get("add", {}).get("passed") for r in seen), \
        "progress never reported add's result before the budget ran out"


def test_grade_of_a_missing_directory_gives_zero_with_a_reason(tmp_path, toy_checks):
    report = grading.grade(tmp_path / "nobody", toy_checks)
    assert report["total"] == 0 and report["max"] > 0
    assert all("does not exist" in e["message"] for e in report["exercises"])
    assert "total: 0 / " in grading.format_table(report)


# -------------------------------------------------------------- CLI, CSV, Gradescope


def test_cli_grade_writes_json_and_gradescope_results(tmp_path, toy_checks, capsys):
    write(tmp_path / "learner", toy_notebook(add="def add(a, b):\n    return a + b\n"))
    out, gradescope = tmp_path / "report.json", tmp_path / "results.json"
    code = cli.main(["grade", str(tmp_path / "learner"), "--tests", str(toy_checks),
                     "--json", str(out), "--gradescope", str(gradescope)])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report) >= {"total", "max", "exercises"} and report["total"] == 4
    assert set(report["exercises"][0]) == {"notebook", "exercise", "points", "earned", "passed",
                                           "message", "checks"}
    results = json.loads(gradescope.read_text())
    assert reports.validate_gradescope(results) == []
    assert results["score"] == 4 and isinstance(results["execution_time"], int)
    add = results["tests"][0]
    assert add["name"] == "00_toy: add" and add["number"] == "1.1"
    assert (add["score"], add["max_score"], add["status"]) == (3, 4, "failed")
    assert "\u2717 errors (0/1)" in add["output"] and "def test_" not in add["output"]
    assert "add" in capsys.readouterr().out


def test_class_csv_and_class_json(tmp_path, toy_checks, capsys):
    write(tmp_path / "class" / "ada", toy_notebook())
    write(tmp_path / "class" / "bob", toy_notebook(add="def add(a, b):\n    return a + b\n"))
    class_json = tmp_path / "class.json"
    code = cli.main(["grade", str(tmp_path / "class"), "--tests", str(toy_checks),
                     "--out", str(tmp_path / "grades"), "--json", str(class_json)])
    assert code == 0
    rows = (tmp_path / "grades" / "grades.csv").read_text().splitlines()
    assert rows == ["learner,total,max,00_toy/add,00_toy/twice", "ada,5,5,4,1", "bob,4,5,3,1"]
    assert json.loads(class_json.read_text())["bob"]["total"] == 4
    assert json.loads((tmp_path / "grades" / "ada.json").read_text())["total"] == 5
    assert cli.main(["grade", str(tmp_path / "class"), "--tests", str(toy_checks),
                     "--gradescope", str(tmp_path / "r.json")]) == 2
    assert "--gradescope writes one learner's" in capsys.readouterr().err


def test_cli_usage_errors_exit_non_zero(tmp_path):
    assert cli.main(["grade", str(tmp_path), "--tests", str(tmp_path / "none")]) == 2
    completed = subprocess.run([sys.executable, "-m", "compress_course.cli", "frobnicate"],
                               capture_output=True, text=True)
    assert completed.returncode == 2 and "invalid choice" in completed.stderr


def test_gradescope_schema_validation_catches_mistakes():
    good = reports.gradescope_results(
        {"total": 1, "max": 2, "exercises": [
            {"notebook": "00_toy", "exercise": "add", "points": 2, "earned": 1, "passed": False,
             "message": "m", "checks": []}]}, 3.4)
    assert reports.validate_gradescope(good) == [] and good["execution_time"] == 3
    bad = json.loads(json.dumps(good))
    bad["tests"][0]["status"] = "ok"
    bad["score"] = 5
    problems = reports.validate_gradescope(bad)
    assert any("status" in p for p in problems) and any("sum" in p for p in problems)


# ------------------------------------------------------------------ the autograder


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    completed = subprocess.run(["bash", str(root / "run_autograder")], env=env,
                               capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_autograder_bundle_grades_solutions_and_blank_notebooks(tmp_path):
    # The bundle carries the checks of lesson 00 only, to keep `make test` quick; the
    # course's full checks go through the same code (test_meta grades every lesson).
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "test_00_baseline.py").write_bytes(
        (ROOT / "tests" / "exercises" / "test_00_baseline.py").read_bytes())
    bundle = tmp_path / "autograder.zip"
    assert cli.main(["autograder", str(bundle), "--tests", str(checks), "--budget", "300"]) == 0
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert {"setup.sh", "run_autograder", "autograder.json"} <= names
        assert "tests/exercises/test_00_baseline.py" in names
        assert "compress_course/grader/autograder.py" in names
        assert archive.getinfo("run_autograder").external_attr >> 16 & 0o111
        setup = archive.read("setup.sh").decode()
    assert "binder/requirements.txt" in setup and "-e /autograder/source" in setup
    assert "hypothesis==" in setup and "pytest==" in setup
    scores = {}
    for kind in ("solutions", "notebooks"):
        root = tmp_path / kind
        with zipfile.ZipFile(bundle) as archive:  # Gradescope: source/ is the zip, extracted
            archive.extractall(root / "source")
        (root / "run_autograder").write_text((root / "source" / "run_autograder").read_text())
        (root / "submission" / "my-notebooks").mkdir(parents=True)  # learners upload a folder
        for notebook in (ROOT / kind).glob("*.ipynb"):
            (root / "submission" / "my-notebooks" / notebook.name).write_bytes(
                notebook.read_bytes())
        results = run_autograder(root)
        assert reports.validate_gradescope(results) == [], results
        names = [t["name"] for t in results["tests"]]
        assert names == ["00_baseline: count_parameters", "00_baseline: model_size_bytes"]
        scores[kind] = (results["score"], sum(t["max_score"] for t in results["tests"]))
        assert "Score:" in results["output"]
    assert scores["solutions"][0] == scores["solutions"][1] > 0
    assert scores["notebooks"][0] == 0 and scores["notebooks"][1] == scores["solutions"][1]


# ------------------------------------------------------------------ the fork server


def test_sandboxes_collect_garbage_although_the_server_imported_without(tmp_path):
    """The fork server turns garbage collection off while it imports (``pause_gc``); every
    process forked from it must collect again, or a long grading run only grows."""
    from compress_course.grader.sandbox import RemoteNotebook

    probe = "def collects():\n    import gc\n    return gc.isenabled()\n"
    write(tmp_path, toy_notebook(twice=probe))
    notebook = RemoteNotebook(tmp_path, "00_toy.ipynb", call_timeout=60)
    try:
        assert notebook.collects() is True, "garbage collection is off in a sandbox"
    finally:
        notebook.close()


@pytest.mark.parametrize("before", [None, "glibc.malloc.check=0"])
def test_starting_the_server_leaves_the_environment_as_it_was(monkeypatch, before):
    from compress_course.grader import processes

    if before is None:
        monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    else:
        monkeypatch.setenv("GLIBC_TUNABLES", before)
    processes.start_server()
    assert os.environ.get("GLIBC_TUNABLES") == before


def test_grading_from_a_script_on_standard_input_says_why_it_cannot(tmp_path):
    """Each child of the fork server runs the main module's file again: with ``python -``
    there is none, and every learner would silently score 0."""
    script = f"from compress_course import grading\ngrading.grade({str(tmp_path)!r})\n"
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode != 0
    assert "grading cannot start from this script (<stdin>)" in done.stderr, done.stderr[-2000:]
