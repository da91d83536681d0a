"""The ``compress-course`` command: ``release`` and ``grade``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import grading, release


def _release(args) -> int:
    if args.strip:
        for path in sorted(Path(args.solutions).glob("*.ipynb")):
            if release.strip_outputs(path):
                print(f"stripped outputs of {path}")
    try:
        differing = release.release(Path(args.solutions), Path(args.notebooks), check=args.check)
    except release.ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check:
        for name in differing:
            print(f"out of date: notebooks/{name} (run `compress-course release`)")
        return 1 if differing else 0
    for name in differing:
        print(f"wrote {Path(args.notebooks) / name}")
    if not differing:
        print("notebooks/ already up to date")
    return 0


def _grade(args) -> int:
    tests = Path(args.tests)
    if not tests.exists():
        print(f"error: --tests {tests} does not exist", file=sys.stderr)
        return 2
    submission = Path(args.submission)
    if not submission.is_dir():
        print(f"warning: the submission directory {submission} does not exist; every exercise "
              "gets zero", file=sys.stderr)
    limits = {"timeout": args.timeout, "test_timeout": args.test_timeout,
              "call_timeout": args.call_timeout}
    if grading.is_class_directory(submission):
        reports = grading.grade_class(submission, tests, workers=args.workers, **limits)
        for learner, report in reports.items():
            print(f"{learner}: {report['total']:g} / {report['max']:g}")
        out = Path(args.out or "grades")
        csv_path = grading.write_class_reports(reports, out)
        print(f"{len(reports)} learners graded; {csv_path} and one JSON per learner in {out}/")
        return 0
    report = grading.grade(submission, tests, workers=args.workers or 1, **limits)
    print(grading.format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compress-course", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    rel = commands.add_parser("release", help="write notebooks/ from solutions/")
    rel.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 naming each notebook that differs")
    rel.add_argument("--strip", action="store_true",
                     help="first clear the outputs stored in solutions/")
    rel.add_argument("--solutions", default=str(release.SOLUTIONS))
    rel.add_argument("--notebooks", default=str(release.NOTEBOOKS))
    rel.set_defaults(run=_release)

    grade = commands.add_parser("grade", help="grade a directory of notebooks")
    grade.add_argument("submission",
                       help="directory holding a learner's notebooks, or a class directory "
                            "holding one such directory per learner")
    grade.add_argument("--json", help="also write the report as JSON to this file")
    grade.add_argument("--out", help="class directory: where grades.csv and the per-learner "
                                     "JSON go (default: ./grades)")
    grade.add_argument("--workers", type=int, default=None,
                       help="notebooks graded in parallel (default: 1 for one learner, all "
                            "cores for a class)")
    grade.add_argument("--call-timeout", type=float, default=None,
                       help="seconds one call of a learner's function may run (default: the "
                            "--test-timeout)")
    grade.add_argument("--tests", default=str(grading.DEFAULT_TESTS),
                       help="directory (or file) of hidden checks (default: the course's)")
    grade.add_argument("--timeout", type=float, default=300.0,
                       help="seconds allowed per notebook (default 300)")
    grade.add_argument("--test-timeout", type=float, default=60.0,
                       help="seconds allowed per check (default 60)")
    grade.set_defaults(run=_grade)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
