"""A Gradescope autograder bundle for the course, and the program its ``run_autograder`` runs.

``compress-course autograder OUT.zip`` writes a zip with, at its root:

- ``setup.sh``: installs Python, the pinned CPU torch and the course's other runtime
  dependencies (``binder/requirements.txt``), pytest and hypothesis at the versions of
  ``requirements-dev.txt``, and the course package itself (editable, from
  ``/autograder/source``);
- ``run_autograder``: grades ``/autograder/submission`` with the hidden checks of the
  bundle and writes ``/autograder/results/results.json``;
- the course package, the hidden checks (``tests/exercises``) and ``autograder.json``
  (the time budget and the visibility chosen when the bundle was built).

Gradescope stops an autograder at its own time limit (10 minutes by default) and keeps
nothing. So the grading has a global budget below that limit, and ``results.json`` is
rewritten as results arrive: if anything stops the run, every exercise graded so far is
there, and the others say why they have no grade yet.

Specification followed: https://gradescope-autograders.readthedocs.io/en/latest/specs/
``AUTOGRADER_ROOT`` (default ``/autograder``) and ``AUTOGRADER_PYTHON`` let a test lay the
same tree out in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

from .. import i18n
from ..i18n import _
from . import translation
from .notebook import PACKAGE_ROOT
from .report import format_table, gradescope_results, make_report

DEFAULT_BUDGET = 480.0  # seconds; Gradescope's default limit is 600

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image.
set -euo pipefail
if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then
    apt-get update
    apt-get install -y python3 python3-pip python3-venv
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
# The pinned CPU build of torch and the course's runtime dependencies.
/autograder/venv/bin/pip install -r /autograder/source/binder/requirements.txt
/autograder/venv/bin/pip install {test_pins}
/autograder/venv/bin/pip install --no-deps -e /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT and AUTOGRADER_PYTHON exist so
# that the course's tests can run the same script on a tree laid out in a temporary folder.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
cd "$ROOT/source"
exec "$PYTHON" -m compress_course.grader.autograder --root "$ROOT"
"""

BUNDLED = ["compress_course", "tests/exercises", "binder/requirements.txt", "pyproject.toml",
           "README.md"]


def _pins(names: tuple[str, ...] = ("pytest", "hypothesis")) -> str:
    lines = (PACKAGE_ROOT / "requirements-dev.txt").read_text().splitlines()
    return " ".join(line.strip() for line in lines
                    if line.strip().split("==")[0] in names)


def build_bundle(out: str | Path, tests: str | Path | None = None,
                 budget: float = DEFAULT_BUDGET, visibility: str = "visible") -> Path:
    """Write the autograder zip to ``out``; ``tests`` replaces the course's hidden checks."""
    from .report import VISIBILITIES

    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, got {visibility!r}")
    if budget <= 0:
        raise ValueError(f"budget must be > 0 seconds, got {budget}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tests = Path(tests).resolve() if tests else PACKAGE_ROOT / "tests" / "exercises"
    if not any(tests.glob("test_*.py")):
        raise FileNotFoundError(f"no test_*.py files in {tests}")

    def add_file(archive: zipfile.ZipFile, name: str, data: str | bytes, mode: int) -> None:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = mode << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data)

    with zipfile.ZipFile(out, "w") as archive:
        add_file(archive, "setup.sh", SETUP_SH.format(test_pins=_pins()), 0o755)
        add_file(archive, "run_autograder", RUN_AUTOGRADER, 0o755)
        add_file(archive, "autograder.json",
                 json.dumps({"budget": budget, "visibility": visibility}, indent=2) + "\n", 0o644)
        for entry in BUNDLED:
            source = tests if entry == "tests/exercises" else PACKAGE_ROOT / entry
            paths = [source] if source.is_file() else sorted(
                p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                and not p.name.startswith("."))
            for path in paths:
                name = entry if source.is_file() else f"{entry}/{path.relative_to(source)}"
                add_file(archive, name, path.read_bytes(), 0o644)
    return out


# ------------------------------------------------------------------- run_autograder


def find_notebooks(submission: Path) -> Path:
    """The folder of a Gradescope submission that holds the notebooks.

    Learners upload the notebooks themselves, or a folder (zipped) holding them.
    """
    if any(submission.glob("*.ipynb")):
        return submission
    candidates = sorted({p.parent for p in submission.rglob("*.ipynb")
                         if ".ipynb_checkpoints" not in p.parts and "__MACOSX" not in p.parts})
    return candidates[0] if len(candidates) == 1 else submission


def _write_atomically(path: Path, results: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


def run(root: Path) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; return the results."""
    started = time.monotonic()
    config_path = root / "source" / "autograder.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    budget = float(config.get("budget", DEFAULT_BUDGET))
    visibility = config.get("visibility", "visible")
    results_path = root / "results" / "results.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    tests = root / "source" / "tests" / "exercises"
    submission = find_notebooks(root / "submission")

    # The learner reads the results in the language of the notebooks handed in (zh_CN
    # notebooks carry it in their metadata), else COMPRESS_COURSE_LANG.
    with i18n.use_language(translation.notebook_language(submission) or i18n.language()):
        return _grade_and_write(submission, tests, results_path, budget, visibility, started)


def _grade_and_write(submission: Path, tests: Path, results_path: Path, budget: float,
                     visibility: str, started: float) -> dict:
    from .runner import grade

    def write(report: dict, note: str) -> dict:
        results = gradescope_results(report, time.monotonic() - started, visibility, note)
        _write_atomically(results_path, results)
        return results

    # Something valid is on disk from the start, even if the run is stopped at once.
    write(make_report(submission, []), _("Grading started; no exercise has been graded yet."))
    try:
        report = grade(submission, tests, budget=budget - (time.monotonic() - started),
                       progress=lambda partial: write(partial, _(
                           "Grading in progress: exercises marked 'not graded yet' are still "
                           "to come.")))
    except Exception as error:  # noqa: BLE001 - the learner still gets a results.json
        return write(make_report(submission, []),
                     _("The autograder could not grade this submission: {error}").format(
                         error=error))
    table = format_table(report)
    print(table)
    return write(report, _("Score: {total} / {max}").format(
        total=f"{report['total']:g}", max=f"{report['max']:g}") + f"\n\n{table}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run_autograder for Gradescope")
    parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    args = parser.parse_args(argv)
    run(Path(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
