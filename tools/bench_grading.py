"""Benchmark of the grader: CPU time of one submission, wall time of a class.

Not a test (timings depend on the machine); run it by hand:

    .venv/bin/python tools/bench_grading.py                 # 1 submission + a class of 100
    .venv/bin/python tools/bench_grading.py --learners 20   # a smaller class

It measures, each in a fresh ``compress-course`` process whose CPU time is read with
``os.wait4`` (the grader stops and reaps its fork server before it exits, so the time of
the server, the grading processes and every sandbox is included):

1. the fork server alone (start, import torch, pytest, the checks; stop): paid once per run;
2. one full submission (``solutions/``): CPU (user + sys) and wall;
3. a class: N learners, copies of ``solutions/`` with a few blank ``notebooks/`` mixed in,
   graded with one process per core: wall time, CPU, and the check that every solved copy
   earns full marks and every blank one zero.

CPU time is the number to compare across loads; wall time depends on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "compress_course.cli"]
SERVER_ONLY = ("from compress_course.grader import processes\n"
               "processes.start_server(); processes.shutdown()\n")


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``command``; return (CPU seconds of it and everything it waited for, wall, output)."""
    start = time.monotonic()
    env = {**os.environ, "COMPRESS_COURSE_QUIET": "1"}
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
                                   env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - start
        output.seek(0)
        text = output.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{text[-3000:]}")
    return usage.ru_utime + usage.ru_stime, wall, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100)
    parser.add_argument("--blanks", type=int, default=5, help="blank notebooks among them")
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--skip-class", action="store_true")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    numbers: dict[str, float | int | str] = {"cores": os.cpu_count() or 1}

    cpu, wall, _ = timed([sys.executable, "-c", SERVER_ONLY], ROOT)
    numbers.update(server_cpu_s=round(cpu, 2), server_wall_s=round(wall, 1))
    print(f"fork server alone:   {cpu:6.1f} s CPU  {wall:6.1f} s wall")

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        report_path = Path(tmp) / "one.json"
        cpu, wall, _ = timed([*COMMAND, "grade", str(ROOT / "solutions"), "--json",
                              str(report_path)], ROOT)
        report = json.loads(report_path.read_text())
        numbers.update(one_cpu_s=round(cpu, 2), one_wall_s=round(wall, 1),
                       one_score=f"{report['total']:g}/{report['max']:g}",
                       exercises=len(report["exercises"]))
        print(f"one submission:      {cpu:6.1f} s CPU  {wall:6.1f} s wall  "
              f"({report['total']:g}/{report['max']:g}, {len(report['exercises'])} exercises; "
              f"{cpu - numbers['server_cpu_s']:.1f} s CPU beyond the server)")
        if report["total"] != report["max"]:
            print("error: the solutions did not earn full marks", file=sys.stderr)
            return 1
        if args.skip_class:
            return _finish(numbers, args.json)

        class_dir = Path(tmp) / "class"
        blanks = set(range(0, args.learners, max(1, args.learners // max(1, args.blanks)))
                     ) if args.blanks else set()
        blanks = set(sorted(blanks)[:args.blanks])
        for index in range(args.learners):
            source = ROOT / ("notebooks" if index in blanks else "solutions")
            target = class_dir / f"learner{index:03d}"
            target.mkdir(parents=True)
            for notebook in source.glob("*.ipynb"):
                shutil.copy(notebook, target / notebook.name)
        command = [*COMMAND, "grade", str(class_dir), "--out", str(Path(tmp) / "grades")]
        if args.workers:
            command += ["--workers", str(args.workers)]
        cpu, wall, _ = timed(command, ROOT)
        wrong = []
        for index in range(args.learners):
            graded = json.loads((Path(tmp) / "grades" / f"learner{index:03d}.json").read_text())
            expected = 0 if index in blanks else graded["max"]
            if graded["total"] != expected:
                wrong.append(f"learner{index:03d}: {graded['total']:g} (expected {expected:g})")
        numbers.update(class_learners=args.learners, class_blanks=len(blanks),
                       class_cpu_s=round(cpu, 1), class_wall_s=round(wall, 1),
                       class_cpu_per_learner_s=round(cpu / args.learners, 2))
        print(f"class of {args.learners} ({len(blanks)} blank): {cpu:6.1f} s CPU  "
              f"{wall:6.1f} s wall  ({cpu / args.learners:.2f} s CPU per learner)")
        if wrong:
            print("error: wrong grades: " + "; ".join(wrong), file=sys.stderr)
            return 1
    return _finish(numbers, args.json)


def _finish(numbers: dict, path: str | None) -> int:
    if path:
        Path(path).write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
