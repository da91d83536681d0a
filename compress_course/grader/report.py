"""From signed report lines to grades: partial credit, the score table, CSV, JSON, Gradescope.

A grading process writes one signed JSON line per collected check (its exercise, points,
part and weight) and one per result. ``summarise`` turns them into the report of the course
spec (section 4.3), one entry per exercise, with a ``checks`` list of its parts:

    {"notebook", "exercise", "points", "earned", "passed", "message",
     "checks": [{"name", "weight", "points", "earned", "passed", "message"}]}

An exercise's points are split across its parts in proportion to their weights; a part
earns its share when all its tests pass (``all_or_nothing`` gives the points only when every
part passes).

The words a learner reads (reasons the grader writes itself, the table's headers, the parts'
names) are in the language of ``compress_course.i18n.language()`` at the time of the call
(``compress-course grade --lang`` sets it).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import textwrap
import unicodedata
from pathlib import Path

from ..i18n import N_, _

NOT_RUN = N_("grading stopped before this check ran")


def _part(name: str) -> str:
    """A part's name (an identifier of the checks) as the learner reads it."""
    return _(name)


def sign(key: bytes, record: dict) -> str:
    """HMAC of a report line (without its ``mac``), so forged lines can be told apart."""
    body = json.dumps({k: v for k, v in record.items() if k != "mac"}, sort_keys=True)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def read_report(report: Path, key: bytes) -> tuple[list[dict], list[dict]]:
    """The collected and the result lines of ``report`` that carry a valid signature."""
    collected, results = [], []
    report = Path(report)
    if report.exists():
        for line in report.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or not hmac.compare_digest(
                    str(record.get("mac", "")), sign(key, record)):
                continue  # not written by the checks: ignore forged lines
            if record.get("kind") == "collected":
                collected.append(record)
            elif record.get("kind") == "result":
                results.append(record)
    return collected, results


def finished(report: Path, key: bytes) -> bool:
    """Whether the grading process signed the end of its pytest session in ``report``."""
    report = Path(report)
    if not report.exists():
        return False
    for line in reversed(report.read_text(errors="replace").splitlines()):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("kind") == "finished" and \
                hmac.compare_digest(str(record.get("mac", "")), sign(key, record)):
            return True
    return False


def _round(value: float) -> float:
    return round(value, 4)


def summarise(collected: list[dict], results: list[dict], stopped: str | None = None,
              all_or_nothing: bool = False) -> list[dict]:
    """One entry per exercise (in the order the checks were collected), with its parts."""
    by_test = {}
    for record in results:
        by_test.setdefault(record["nodeid"], record)
    exercises: dict[tuple[str, str], dict] = {}
    for item in collected:
        key = (item.get("notebook", ""), item["exercise"])
        entry = exercises.setdefault(key, {"points": item["points"], "parts": {}})
        group = entry["parts"].setdefault(item.get("check", "all"),
                                          {"weight": item.get("weight", 1.0), "tests": []})
        group["tests"].append(item["nodeid"])
    summary = []
    for (notebook, exercise), entry in exercises.items():
        points = entry["points"]
        total_weight = sum(p["weight"] for p in entry["parts"].values()) or 1.0
        checks = []
        for name, group in entry["parts"].items():
            outcomes = [by_test.get(t) for t in group["tests"]]
            failed = [o for o in outcomes if o is not None and not o["passed"]]
            missing = sum(o is None for o in outcomes)
            passed = not failed and not missing
            if failed:
                message = failed[0]["message"]
            elif missing:
                message = stopped or _(NOT_RUN)
            else:
                message = _("all {count} checks passed").format(count=len(outcomes))
            share = points * group["weight"] / total_weight
            checks.append({"name": name, "weight": group["weight"], "points": _round(share),
                           "earned": _round(share) if passed else 0.0, "passed": passed,
                           "message": message})
        passed = all(c["passed"] for c in checks)
        if passed:
            earned = points
        elif all_or_nothing:
            earned = 0.0
        else:
            earned = _round(sum(c["earned"] for c in checks))
        if passed:
            tests = sum(len(p["tests"]) for p in entry["parts"].values())
            message = _("all {count} checks passed").format(count=tests)
        elif len(checks) == 1 or len({c["message"] for c in checks if not c["passed"]}) == 1 \
                and not any(c["passed"] for c in checks):
            message = next(c["message"] for c in checks if not c["passed"])
        else:
            # NOTE: separator between the failed parts of an exercise in one reason.
            message = _("; ").join(_("{part}: {message}").format(part=_part(c["name"]),
                                                                 message=c["message"])
                                   for c in checks if not c["passed"])
        summary.append({"notebook": notebook, "exercise": exercise, "points": points,
                        "earned": earned, "passed": passed, "message": message,
                        "checks": checks})
    return summary


def make_report(submission: str | Path, exercises: list[dict], **extra) -> dict:
    return {"submission": str(submission),
            "total": _round(sum(e["earned"] for e in exercises)),
            "max": _round(sum(e["points"] for e in exercises)),
            "exercises": exercises, **extra}


# ------------------------------------------------------------------------------- table


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _wrap(text: str, width: int) -> list[str]:
    """``textwrap.wrap`` by display width: lines of wide characters are cut to fit too."""
    lines = []
    for line in textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False):
        while display_width(line) > width:
            cut, used = 0, 0
            while cut < len(line) and used + display_width(line[cut]) <= width:
                used += display_width(line[cut])
                cut += 1
            cut = max(cut, 1)
            lines.append(line[:cut])
            line = line[cut:].lstrip()
        if line:
            lines.append(line)
    return lines


def format_table(report: dict, width: int = 100) -> str:
    """The score table an instructor reads: notebook, exercise, points, and the full reason.

    Reasons are wrapped, never cut. An exercise split into parts lists, under its row, each
    part that failed beside those that passed, with its share of the points.
    """
    rows = [(e["notebook"], e["exercise"], f"{e['earned']:g}/{e['points']:g}")
            for e in report["exercises"]]
    headers = (_("notebook"), _("exercise"), _("points"))
    result = _("result")
    widths = [max(display_width(h), *(display_width(r[i]) for r in rows)) if rows
              else display_width(h) for i, h in enumerate(headers)]
    indent = sum(widths) + 2 * len(widths)
    wrap = max(40, width - indent)
    lines = ["  ".join(_ljust(h, w) for h, w in zip(headers, widths, strict=True)) + "  " + result,
             "  ".join("-" * w for w in widths) + "  " + "-" * display_width(result)]

    def add(first: str, text: str, hang: int = 2) -> None:
        chunks = _wrap(text, wrap - hang) or [""]
        lines.append(first + chunks[0])
        lines.extend(" " * (indent + hang) + chunk for chunk in chunks[1:])

    for row, entry in zip(rows, report["exercises"], strict=True):
        first = "  ".join(_ljust(c, w) for c, w in zip(row, widths, strict=True)) + "  "
        checks = entry.get("checks") or []
        mark = "\u2713 " if entry["passed"] else "\u2717 "
        same = len({c["message"] for c in checks}) == 1 and not any(c["passed"] for c in checks)
        if entry["passed"] or len(checks) <= 1 or same:  # one reason: say it once
            add(first + mark, entry["message"])
            continue
        failed = sum(not c["passed"] for c in checks)
        add(first + mark, _("{failed} of {total} parts failed").format(failed=failed,
                                                                        total=len(checks)))
        for check in checks:
            mark = "\u2713 " if check["passed"] else "\u2717 "
            label = f"{_part(check['name'])} ({check['earned']:g}/{check['points']:g})"
            text = label if check["passed"] else _("{part}: {message}").format(
                part=label, message=check["message"])
            add(" " * indent + "  " + mark, text, hang=4)
    lines.append(_("total: {total} / {max}").format(total=f"{report['total']:g}",
                                                    max=f"{report['max']:g}"))
    return "\n".join(lines)


# ------------------------------------------------------------------------------- class


def exercise_columns(reports: dict[str, dict]) -> list[str]:
    columns: list[str] = []
    for report in reports.values():
        for e in report["exercises"]:
            column = f"{e['notebook']}/{e['exercise']}"
            if column not in columns:
                columns.append(column)
    return columns


def write_class_csv(reports: dict[str, dict], path: str | Path) -> Path:
    """One row per learner: ``learner``, ``total``, ``max``, then one column per exercise.

    Numbers only, one header row, UTF-8 without a byte-order mark: it imports into a
    spreadsheet or an LMS gradebook as it is.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = exercise_columns(reports)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", "total", "max", *columns])
        for learner, report in reports.items():
            earned = {f"{e['notebook']}/{e['exercise']}": e["earned"] for e in report["exercises"]}
            writer.writerow([learner, f"{report['total']:g}", f"{report['max']:g}",
                             *(f"{earned.get(c, 0):g}" for c in columns)])
    return path


def write_class_reports(reports: dict[str, dict], out_dir: str | Path) -> Path:
    """``grades.csv`` (see ``write_class_csv``) and one JSON report per learner in ``out_dir``."""
    out_dir = Path(out_dir)
    csv_path = write_class_csv(reports, out_dir / "grades.csv")
    for learner, report in reports.items():
        (out_dir / f"{learner}.json").write_text(json.dumps(report, indent=2) + "\n")
    return csv_path


# --------------------------------------------------------------------------- gradescope

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def gradescope_results(report: dict, execution_time: float | None = None,
                       visibility: str = "visible", output: str | None = None) -> dict:
    """Gradescope's ``results.json``: one test per exercise, its parts in the output.

    Schema: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (top-level
    ``score``, ``execution_time``, ``output``, ``tests`` with ``name``, ``number``,
    ``score``, ``max_score``, ``status`` and ``output``, ``visibility``). The output holds
    the same sentences as the score table: what was tried, what was expected, what came
    back; never a hidden check's source.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, got {visibility!r}")
    tests, notebooks = [], []
    for entry in report["exercises"]:
        if entry["notebook"] not in notebooks:
            notebooks.append(entry["notebook"])
        number = (f"{notebooks.index(entry['notebook']) + 1}."
                  f"{sum(t['_notebook'] == entry['notebook'] for t in tests) + 1}")
        checks = entry.get("checks") or []
        if len(checks) > 1:
            lines = []
            for c in checks:
                label = f"{_part(c['name'])} ({c['earned']:g}/{c['points']:g})"
                lines.append(("\u2713 " if c["passed"] else "\u2717 ") + (
                    label if c["passed"] else _("{part}: {message}").format(
                        part=label, message=c["message"])))
            text = "\n".join(lines)
        else:
            text = ("\u2713 " if entry["passed"] else "\u2717 ") + entry["message"]
        tests.append({"_notebook": entry["notebook"],
                      "name": f"{entry['notebook']}: {entry['exercise']}", "number": number,
                      "score": entry["earned"], "max_score": entry["points"],
                      "status": "passed" if entry["passed"] else "failed",
                      "output": text, "visibility": visibility})
    for test in tests:
        del test["_notebook"]
    results = {"score": report["total"], "tests": tests, "visibility": visibility,
               "stdout_visibility": "hidden"}
    if execution_time is not None:
        results["execution_time"] = int(round(execution_time))
    if output:
        results["output"] = output
    return results


def validate_gradescope(results: dict) -> list[str]:
    """Problems with a ``results.json`` against Gradescope's schema (empty when valid)."""
    problems = []
    if not isinstance(results.get("score"), (int, float)):
        problems.append("top-level `score` must be a number")
    if "execution_time" in results and not isinstance(results["execution_time"], int):
        problems.append("`execution_time` must be an integer number of seconds")
    if results.get("visibility", "visible") not in VISIBILITIES:
        problems.append(f"`visibility` must be one of {VISIBILITIES}")
    tests = results.get("tests")
    if not isinstance(tests, list):
        return problems + ["`tests` must be a list"]
    for index, test in enumerate(tests):
        where = f"tests[{index}]"
        for key, kind in (("name", str), ("number", str), ("output", str),
                          ("score", (int, float)), ("max_score", (int, float))):
            if not isinstance(test.get(key), kind):
                problems.append(f"{where}.{key} missing or not a {getattr(kind, '__name__', 'number')}")
        if test.get("status") not in ("passed", "failed"):
            problems.append(f"{where}.status must be 'passed' or 'failed'")
        if test.get("visibility") not in VISIBILITIES:
            problems.append(f"{where}.visibility must be one of {VISIBILITIES}")
        if isinstance(test.get("score"), (int, float)) and isinstance(
                test.get("max_score"), (int, float)) and not 0 <= test["score"] <= test["max_score"]:
            problems.append(f"{where}.score must lie between 0 and max_score")
    if isinstance(results.get("score"), (int, float)) and tests and abs(
            results["score"] - sum(t.get("score", 0) for t in tests)) > 1e-6:
        problems.append("top-level `score` must equal the sum of the tests' scores")
    return problems
