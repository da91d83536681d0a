"""The ``compress-course`` command: ``release``, ``translate``, ``grade`` and ``autograder``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .. import i18n
from . import release, translation
from .notebook import DEFAULT_TESTS
from .report import (
    format_table,
    gradescope_results,
    validate_gradescope,
    write_class_csv,
    write_class_reports,
)
from .runner import GRADING_MAX_EXAMPLES, grade, grade_class, is_class_directory


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
    found = _translation_problems(sorted(Path(args.notebooks).glob("*.ipynb")),
                                  translation.LANGUAGES)
    if found:
        print(f"warning: {len(found)} translated cells are missing, stale or unfinished and "
              "keep their English text; `compress-course translate --check` lists them",
              file=sys.stderr)
    return 0


def _translation_problems(paths: list[Path], languages) -> list[str]:
    """``translation.problems`` of every English notebook in ``paths``, in every language."""
    found = []
    for path in paths:
        english = json.loads(path.read_text(encoding="utf-8"))
        for language in languages:
            found += translation.problems(english, path.name, language)
    return found


def _translate(args) -> int:
    notebooks = Path(args.notebooks)
    languages = [args.lang] if args.lang else list(translation.LANGUAGES)
    if args.lang and args.lang not in translation.LANGUAGES:
        print(f"error: --lang {args.lang!r} is not one of {', '.join(translation.LANGUAGES)}",
              file=sys.stderr)
        return 2
    paths = sorted(notebooks.glob("*.ipynb"))
    if args.notebook:
        paths = [p for p in paths if p.stem.startswith(args.notebook)]
        if not paths:
            print(f"error: no notebook in {notebooks} starts with {args.notebook!r}",
                  file=sys.stderr)
            return 2
    if args.init:
        for path in paths:
            english = json.loads(path.read_text(encoding="utf-8"))
            for language in languages:
                added = translation.init_entries(english, path.name, language)
                if added:
                    print(f"{translation.translation_path(language, path.name)}: {added} todo "
                          "entries added (English text to translate; remove ` todo` when done)")
    found = _translation_problems(paths, languages)
    for problem in found:
        print(problem)
    print(f"{len(found)} translation problems" if found else "every translation is up to date")
    return 1 if found and args.check else 0


def _grade(args) -> int:
    # The report's language: --lang, else the notebooks' own, else COMPRESS_COURSE_LANG. The
    # grading processes inherit it through the environment (the fork server starts later).
    language = (args.lang or translation.notebook_language(Path(args.submission))
                or i18n.language())
    with i18n.use_language(language):
        return _grade_in_language(args)


def _grade_in_language(args) -> int:
    tests = Path(args.tests)
    if not tests.exists():
        print(f"error: --tests {tests} does not exist", file=sys.stderr)
        return 2
    submission = Path(args.submission)
    if not submission.is_dir():
        print(f"warning: the submission directory {submission} does not exist; every exercise "
              "gets zero", file=sys.stderr)
    limits = {"timeout": args.timeout, "test_timeout": args.test_timeout,
              "call_timeout": args.call_timeout, "budget": args.budget,
              "max_examples": args.max_examples, "all_or_nothing": args.all_or_nothing}
    started = time.monotonic()
    if is_class_directory(submission):
        if args.gradescope:
            print("error: --gradescope writes one learner's results.json; grade each learner's "
                  "directory on its own, or use --csv/--json for a class", file=sys.stderr)
            return 2
        reports = grade_class(
            submission, tests, workers=args.workers,
            on_learner=lambda name, report: print(f"{name}: {report['total']:g} / "
                                                  f"{report['max']:g}", flush=True),
            **limits)
        out = Path(args.out or "grades")
        csv_path = write_class_reports(reports, out)
        print(f"{len(reports)} learners graded in {time.monotonic() - started:.0f} s; "
              f"{csv_path} and one JSON per learner in {out}/")
        if args.csv:
            print(f"class CSV written to {write_class_csv(reports, args.csv)}")
        if args.json:
            Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
            print(f"class report (learner -> report) written to {args.json}")
        return 0
    if args.out or args.csv:
        print("error: --out and --csv are for a class directory (one sub-directory of notebooks "
              "per learner); use --json for one learner", file=sys.stderr)
        return 2
    report = grade(submission, tests, workers=args.workers or 1, **limits)
    elapsed = time.monotonic() - started
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")
    if args.gradescope:
        results = gradescope_results(report, elapsed, args.visibility)
        problems = validate_gradescope(results)
        if problems:  # a bug of ours, never the learner's
            print("error: " + "; ".join(problems), file=sys.stderr)
            return 1
        Path(args.gradescope).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(f"Gradescope results written to {args.gradescope}")
    return 0


def _autograder(args) -> int:
    from .autograder import build_bundle

    try:
        out = build_bundle(args.out, args.tests, budget=args.budget, visibility=args.visibility)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment "
          f"(budget {args.budget:g} s, test visibility {args.visibility})")
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

    tr = commands.add_parser("translate", help="list (or start) the translations in i18n/ "
                                               "that are missing, stale or unfinished")
    tr.add_argument("notebook", nargs="?", help="only notebooks whose name starts with this, "
                                                "e.g. 01")
    tr.add_argument("--lang", help=f"one of {', '.join(translation.LANGUAGES)} (default: all)")
    tr.add_argument("--init", action="store_true",
                    help="append a todo entry holding the English text for every cell that has "
                         "none")
    tr.add_argument("--check", action="store_true", help="exit 1 when anything is listed")
    tr.add_argument("--notebooks", default=str(release.NOTEBOOKS))
    tr.set_defaults(run=_translate)

    grade_parser = commands.add_parser("grade", help="grade a directory of notebooks")
    grade_parser.add_argument(
        "submission", help="directory holding a learner's notebooks, or a class directory "
                           "holding one such directory per learner")
    grade_parser.add_argument("--lang", choices=list(i18n.LANGUAGES),
                              help="language of the report and the reasons (default: the "
                                   "notebooks' language, else $COMPRESS_COURSE_LANG, else en)")
    grade_parser.add_argument("--json", help="also write the report as JSON to this file (for a "
                                             "class: every learner's report, by name)")
    grade_parser.add_argument("--gradescope", metavar="FILE",
                              help="also write Gradescope's results.json to this file")
    grade_parser.add_argument("--visibility", default="visible",
                              choices=["hidden", "after_due_date", "after_published", "visible"],
                              help="Gradescope visibility of each test (default: visible)")
    grade_parser.add_argument("--out", help="class directory: where grades.csv and the "
                                            "per-learner JSON go (default: ./grades)")
    grade_parser.add_argument("--csv", help="class directory: also write the class CSV here")
    grade_parser.add_argument("--all-or-nothing", action="store_true",
                              help="an exercise earns its points only when all its parts pass "
                                   "(default: each part earns its share)")
    grade_parser.add_argument("--workers", type=int, default=None,
                              help="grading processes in parallel (default: 1 for one learner, "
                                   "all cores for a class)")
    grade_parser.add_argument("--tests", default=str(DEFAULT_TESTS),
                              help="directory (or file) of hidden checks (default: the course's)")
    grade_parser.add_argument("--timeout", type=float, default=300.0,
                              help="seconds allowed per notebook (default 300)")
    grade_parser.add_argument("--test-timeout", type=float, default=60.0,
                              help="seconds allowed per check (default 60)")
    grade_parser.add_argument("--call-timeout", type=float, default=None,
                              help="seconds one call of a learner's function may run (default: "
                                   "the --test-timeout)")
    grade_parser.add_argument("--budget", type=float, default=None,
                              help="seconds allowed for one learner's whole submission (default: "
                                   "--timeout per notebook)")
    grade_parser.add_argument("--max-examples", type=int, default=GRADING_MAX_EXAMPLES,
                              help="at most this many generated examples per property test "
                                   f"(default {GRADING_MAX_EXAMPLES}; 0: as each test declares)")
    grade_parser.set_defaults(run=_grade)

    bundle = commands.add_parser("autograder", help="build a Gradescope autograder zip")
    bundle.add_argument("out", help="the zip file to write, e.g. autograder.zip")
    bundle.add_argument("--tests", default=None,
                        help="directory of hidden checks to bundle (default: the course's)")
    bundle.add_argument("--budget", type=float, default=480.0,
                        help="seconds the grading of one submission may take in all (default "
                             "480, under Gradescope's default limit of 600)")
    bundle.add_argument("--visibility", default="visible",
                        choices=["hidden", "after_due_date", "after_published", "visible"],
                        help="when learners see each exercise's result (default: visible)")
    bundle.set_defaults(run=_autograder)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    finally:
        from .processes import shutdown

        shutdown()


if __name__ == "__main__":
    sys.exit(main())
