"""Hostile submissions: none crashes the grader, none raises its own grade.

Each learner below keeps a correct ``model_size_bytes`` (written without calling
``count_parameters``) and replaces ``count_parameters`` with a wrong answer plus an attack.
The honest grade of every one of them is exactly the points of ``model_size_bytes``.
The whole class is graded in one ``grade_class`` run, two learners at a time, all from one
fork server: an attack that breaks the grading of anyone else shows here too.
"""

import json
import re
from pathlib import Path

import pytest

from compress_course import grading

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "tests" / "exercises" / "test_00_baseline.py"
WRONG = "def count_parameters(model, trainable_only=False):\n    return 0\n"

ATTACKS = {
    "infinite_loop": ("def count_parameters(model, trainable_only=False):\n"
                      "    while True:\n        pass\n", "took longer than"),
    "loop_in_cell": ("while True:\n    pass\n" + WRONG, "took longer than"),
    "huge_output": ("def count_parameters(model, trainable_only=False):\n"
                    "    for _ in range(200):\n        print('x' * 1_000_000)\n    return 0\n",
                    ""),
    "runaway_memory": ("def count_parameters(model, trainable_only=False):\n"
                       "    hog = []\n    while True:\n        hog.append(bytearray(10**8))\n",
                       # the address-space cap stops it, or (on a slow machine) the time limit
                       "MemoryError|took longer than"),
    "sys_exit": ("import sys\ndef count_parameters(model, trainable_only=False):\n"
                 "    sys.exit(0)\n", "sys.exit"),
    "os_exit": ("import os\ndef count_parameters(model, trainable_only=False):\n"
                "    os._exit(0)\n", "crashed"),
    "segfault": ("import ctypes\ndef count_parameters(model, trainable_only=False):\n"
                 "    return ctypes.string_at(0)\n", r"crashed \(killed by SIGSEGV\)"),
    "sigkill": ("import os, signal\ndef count_parameters(model, trainable_only=False):\n"
                "    os.kill(os.getpid(), signal.SIGKILL)\n", r"crashed \(killed by SIGKILL\)"),
    "patch_torch_and_builtins": (
        "import builtins, torch\n"
        "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "builtins.abs = lambda x: 0\n" + WRONG, "returned 0"),
    # breaks the child's own machinery: whatever the reason reported, it earns nothing
    "patch_isinstance": ("import builtins\nbuiltins.isinstance = lambda *a: True\n" + WRONG, ""),
    "patch_checks_and_pytest": (
        "import pytest, compress_course.checks as c\n"
        "c.expect = lambda *a, **k: None\nc.call = lambda fn, *a, **k: fn(*a, **k)\n"
        "pytest.fail = lambda *a, **k: None\n"
        "class Liar(int):\n    def __eq__(self, other):\n        return True\n"
        "def count_parameters(model, trainable_only=False):\n    return Liar(0)\n",
        ""),
    "delete_files": (
        "import os, shutil\n"
        "def count_parameters(model, trainable_only=False):\n"
        "    for entry in os.listdir('.'):\n"
        "        shutil.rmtree(entry, ignore_errors=True) if os.path.isdir(entry) "
        "else os.remove(entry)\n"
        "    return 0\n", "returned 0"),
    "kill_fork_server": ("import os, signal\n"
                         "def count_parameters(model, trainable_only=False):\n"
                         "    os.kill(os.getppid(), signal.SIGKILL)\n    return 0\n",
                         "returned 0"),
    "fake_report": (
        "import glob, json, tempfile\n"
        "def count_parameters(model, trainable_only=False):\n"
        "    paths = glob.glob('/tmp/grade-*/report.jsonl') + glob.glob(\n"
        "        tempfile.gettempdir() + '/grade-*/report.jsonl')\n"
        "    for cmdline in glob.glob('/proc/*/cmdline'):\n"
        "        try:\n            args = open(cmdline).read().split('\\0')\n"
        "        except OSError:\n            continue\n"
        "        if '--grade-report' in args:\n"
        "            paths.append(args[args.index('--grade-report') + 1])\n"
        "    for path in paths:\n"
        "            with open(path, 'a') as report:\n"
        "                for name in ('matches_reference', 'shared_and_buffers', "
        "'trainable_only'):\n"
        "                    node = 'test_00_baseline.py::test_count_parameters_' + name\n"
        "                    report.write(json.dumps({'kind': 'result', 'nodeid': node, "
        "'exercise': 'count_parameters', 'passed': True, 'message': 'passed'}) + '\\n')\n"
        "    return 0\n", "returned 0"),
}


def learner_notebook(attack_source: str) -> dict:
    notebook = json.loads((ROOT / "solutions" / "00_baseline.ipynb").read_text())
    first, second = [c for c in notebook["cells"]
                     if "exercise" in c.get("metadata", {}).get("tags", [])]
    first["source"] = attack_source
    second["source"] = second["source"].replace("count_parameters(model)",
                                                "sum(p.numel() for p in model.parameters())")
    return notebook


@pytest.fixture(scope="module")
def class_reports(tmp_path_factory):
    class_dir = tmp_path_factory.mktemp("class")
    for name, (source, _) in ATTACKS.items():
        (class_dir / name).mkdir()
        (class_dir / name / "00_baseline.ipynb").write_text(json.dumps(learner_notebook(source)))
        (class_dir / name / "keep.txt").write_text("the learner's own file")
    reports = grading.grade_class(class_dir, CHECKS, workers=2, timeout=240, test_timeout=60,
                                  call_timeout=4, cell_timeout=20)
    return class_dir, reports


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_earns_only_the_honest_grade(class_reports, attack):
    class_dir, reports = class_reports
    by_exercise = {e["exercise"]: e for e in reports[attack]["exercises"]}
    attacked, honest = by_exercise["count_parameters"], by_exercise["model_size_bytes"]
    assert attacked["earned"] == 0 and not attacked["passed"], attacked
    assert re.search(ATTACKS[attack][1], attacked["message"]), attacked["message"]
    assert all(len(check["message"]) <= 1000 for check in attacked["checks"])
    assert attacked["checks"] and not any(check["passed"] for check in attacked["checks"])
    assert honest["passed"], f"{attack} changed another exercise's result: {honest['message']}"
    assert reports[attack]["total"] == honest["points"]
    # the submission itself is never touched: the sandbox works on a copy
    assert (class_dir / attack / "keep.txt").read_text() == "the learner's own file"


def test_class_reports_are_written(class_reports, tmp_path):
    _, reports = class_reports
    csv_path = grading.write_class_reports(reports, tmp_path / "grades")
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "learner,total,max,00_baseline/count_parameters,00_baseline/model_size_bytes"
    assert len(rows) == 1 + len(ATTACKS)
    assert all(row.endswith(",2,4,0,2") for row in rows[1:]), rows
    for learner in ATTACKS:
        assert json.loads((tmp_path / "grades" / f"{learner}.json").read_text())["total"] == 2
