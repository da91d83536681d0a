"""Grading: the notebook loader's reasons, and a grade that survives bad submissions."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compress_course import cli, grading
from compress_course.grading import SubmissionError, load_exercises

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "solutions" / "00_baseline.ipynb"
BASELINE_CHECKS = ROOT / "tests" / "exercises" / "test_00_baseline.py"


def solved_baseline() -> dict:
    return json.loads(BASELINE.read_text())


def exercise_cells(notebook):
    return [c for c in notebook["cells"] if "exercise" in c.get("metadata", {}).get("tags", [])]


def write(folder: Path, notebook: dict, name="00_baseline.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(notebook))
    return path


def test_loads_the_solutions_functions():
    loaded = load_exercises(BASELINE)
    assert loaded.count_parameters.__name__ == "count_parameters"
    with pytest.raises(SubmissionError, match="defines no function `nope`"):
        loaded.nope  # noqa: B018
    assert not hasattr(loaded, "nope")


def test_training_cells_never_run(tmp_path):
    notebook = solved_baseline()
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                              "execution_count": None, "source": "raise SystemExit('ran')"})
    load_exercises(write(tmp_path, notebook)).count_parameters  # noqa: B018


def test_missing_and_invalid_notebooks(tmp_path):
    with pytest.raises(SubmissionError, match="missing notebook: 00_baseline.ipynb"):
        load_exercises(tmp_path / "00_baseline.ipynb")
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(SubmissionError, match="bad.ipynb is not a valid notebook"):
        load_exercises(tmp_path / "bad.ipynb")


@pytest.mark.parametrize("count", [0, 2])
def test_setup_cell_must_be_unique(tmp_path, count):
    notebook = solved_baseline()
    setup = next(c for c in notebook["cells"] if "setup" in c.get("metadata", {}).get("tags", []))
    setup["metadata"]["tags"] = []
    for _ in range(count):
        notebook["cells"].append(json.loads(json.dumps(setup)) | {"metadata": {"tags": ["setup"]}})
    with pytest.raises(SubmissionError, match="code cell tagged `setup`"):
        load_exercises(write(tmp_path, notebook))


def test_a_broken_exercise_cell_costs_only_its_functions(tmp_path):
    notebook = solved_baseline()
    first, second = exercise_cells(notebook)
    first["source"] = "def count_parameters(model, trainable_only=False:\n    return 1\n"
    loaded = load_exercises(write(tmp_path, notebook))
    with pytest.raises(SubmissionError, match="syntax error"):
        loaded.count_parameters  # noqa: B018
    assert callable(loaded.model_size_bytes)

    first["source"] = "def count_parameters(model):\n    return 1\nraise RuntimeError('boom')\n"
    loaded = load_exercises(write(tmp_path, notebook))
    with pytest.raises(SubmissionError, match="raised RuntimeError: boom"):
        loaded.count_parameters  # noqa: B018


def test_a_looping_cell_times_out(tmp_path):
    notebook = solved_baseline()
    exercise_cells(notebook)[0]["source"] = "while True:\n    pass\n"
    loaded = load_exercises(write(tmp_path, notebook), timeout=1)
    with pytest.raises(SubmissionError, match="took longer than 1 s"):
        loaded.count_parameters  # noqa: B018


def test_grade_reports_a_reason_for_every_failure_and_goes_on(tmp_path):
    notebook = solved_baseline()
    first, second = exercise_cells(notebook)
    # count_parameters loops forever when called; model_size_bytes stays correct
    first["source"] = ("def count_parameters(model, trainable_only=False):\n"
                       "    while True:\n        pass\n")
    second["source"] = second["source"].replace("count_parameters(model)",
                                                "sum(p.numel() for p in model.parameters())")
    write(tmp_path / "learner", notebook)
    report = grading.grade(tmp_path / "learner", BASELINE_CHECKS, call_timeout=3)
    by_name = {e["exercise"]: e for e in report["exercises"]}
    assert by_name["count_parameters"]["earned"] == 0
    assert "running count_parameters took longer than 3 s" in by_name["count_parameters"]["message"]
    assert by_name["model_size_bytes"]["passed"], by_name["model_size_bytes"]["message"]
    assert report["total"] == by_name["model_size_bytes"]["points"]


def test_grade_of_a_missing_directory_gives_zero_with_a_reason(tmp_path):
    report = grading.grade(tmp_path / "nobody", BASELINE_CHECKS)
    assert report["total"] == 0 and report["max"] > 0
    assert all("does not exist" in e["message"] for e in report["exercises"])
    table = grading.format_table(report)
    assert "total: 0 / " in table


def test_cli_grade_writes_the_json_report_and_exits_zero(tmp_path, capsys):
    out = tmp_path / "report.json"
    code = cli.main(["grade", str(ROOT / "solutions"), "--tests", str(BASELINE_CHECKS),
                     "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report) >= {"total", "max", "exercises"} and report["total"] == report["max"]
    assert set(report["exercises"][0]) == {"notebook", "exercise", "points", "earned", "passed",
                                           "message"}
    assert "count_parameters" in capsys.readouterr().out


def test_cli_usage_errors_exit_non_zero(tmp_path):
    assert cli.main(["grade", str(tmp_path), "--tests", str(tmp_path / "none")]) == 2
    completed = subprocess.run([sys.executable, "-m", "compress_course.cli", "frobnicate"],
                               capture_output=True, text=True)
    assert completed.returncode == 2 and "invalid choice" in completed.stderr
