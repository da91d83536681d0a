"""Loaded-machine test: do the solved lessons still run, and in reasonable time, on a busy CPU?

Learners run the course on laptops doing other work and on Binder's shared CPUs. For each
solved notebook this script

1. executes it as CI does (pytest --nbval-lax, COMPRESS_COURSE_STRICT=1 and
   COMPRESS_COURSE_QUIET=1) on the machine as it is ("quiet"),
2. starts one busy process per core (a ``for`` loop that never waits), executes it again ("loaded"),
   and stops the busy processes — always, also on an error or Ctrl-C,

then checks that both runs pass and that the loaded run takes at most ``--factor`` (3) times
the quiet one. It prints a table (lesson, quiet s, loaded s, ratio) and writes it to
``results/loaded.json``. Exit status 0 when every lesson passes.

    .venv/bin/python tools/loaded_run.py                    # every lesson in solutions/
    .venv/bin/python tools/loaded_run.py 00_baseline 06     # a few (name or number prefix)

`make test-loaded` runs it on every lesson. It takes about four times as long as executing
the lessons once, so it is not part of `make test`. The quiet runs are only quiet when nothing
else is running: check the load average it prints first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A busy loop that also ends by itself once its parent is gone (even after `kill -9`).
SPIN = ("import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n"
        "    for _ in range(1_000_000):\n        pass\n")


class Spinners:
    """``count`` busy processes, one per core by default, stopped on exit from the block."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Spinners:
        for _ in range(self.count):
            self.processes.append(subprocess.Popen([sys.executable, "-c", SPIN, str(os.getpid())],
                                                   stdin=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait()
        self.processes.clear()


def execute(notebook: Path, timeout: float) -> dict:
    """Execute ``notebook`` as CI does; return wall seconds, success and the output's tail."""
    command = [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
               "--nbval-cell-timeout=300", "-p", "no:cacheprovider", str(notebook)]
    env = {**os.environ, "COMPRESS_COURSE_STRICT": "1", "COMPRESS_COURSE_QUIET": "1"}
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                   timeout=timeout)
        ok, output = completed.returncode == 0, completed.stdout + completed.stderr
    except subprocess.TimeoutExpired as expired:
        ok = False
        output = f"timed out after {timeout:g} s\n" + str(expired.stdout or "")[-2000:]
    return {"seconds": time.perf_counter() - started, "ok": ok, "tail": output[-2000:]}


def select(names: list[str]) -> list[Path]:
    notebooks = sorted((ROOT / "solutions").glob("*.ipynb"))
    if not names:
        return notebooks
    chosen = []
    for name in names:
        matches = [p for p in notebooks if p.stem == name or p.stem.startswith(name)]
        if not matches:
            raise SystemExit(f"no solved notebook matches {name!r} in {ROOT / 'solutions'}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def table(rows: list[dict], factor: float) -> str:
    lines = [f"{'lesson':<20} {'quiet s':>8} {'loaded s':>9} {'ratio':>6}  verdict",
             "-" * 60]
    for row in rows:
        lines.append(f"{row['lesson']:<20} {row['quiet_s']:>8.1f} {row['loaded_s']:>9.1f} "
                     f"{row['ratio']:>6.2f}  {row['verdict']}")
    lines.append(f"(pass: both runs execute cleanly and loaded <= {factor:g} x quiet)")
    return "\n".join(lines)


def write(args: argparse.Namespace, load: tuple, rows: list[dict]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "load_before": list(load)},
        "spinners": args.spinners, "factor": args.factor,
        "passed": all(r["verdict"] == "ok" for r in rows), "lessons": rows}, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson names or number prefixes (default: all)")
    parser.add_argument("--factor", type=float, default=3.0,
                        help="largest allowed loaded/quiet wall-time ratio (default 3)")
    parser.add_argument("--spinners", type=int, default=os.cpu_count() or 1,
                        help="busy processes during the loaded run (default: one per core)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds allowed for one execution of one notebook (default 900)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "loaded.json")
    args = parser.parse_args(argv)
    notebooks = select(args.lessons)

    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the spinners' `with` stops them.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          f"before the quiet runs; {args.spinners} busy processes during the loaded runs.",
          flush=True)
    if load[0] > 0.5 * (os.cpu_count() or 1):
        print("warning: the machine is already busy, so the 'quiet' times are not quiet and "
              "the ratios understate the slowdown.", flush=True)

    rows = []
    for notebook in notebooks:
        quiet = execute(notebook, args.timeout)
        with Spinners(args.spinners):
            loaded = execute(notebook, args.timeout)
        ratio = loaded["seconds"] / quiet["seconds"]
        problems = [f"{name} run failed" for name, run in (("quiet", quiet), ("loaded", loaded))
                    if not run["ok"]]
        if ratio > args.factor:
            problems.append(f"loaded run {ratio:.2f}x the quiet one (limit {args.factor:g}x)")
        row = {"lesson": notebook.stem, "quiet_s": round(quiet["seconds"], 2),
               "loaded_s": round(loaded["seconds"], 2), "ratio": round(ratio, 3),
               "quiet_ok": quiet["ok"], "loaded_ok": loaded["ok"],
               "verdict": "; ".join(problems) or "ok"}
        rows.append(row)
        print(f"{row['lesson']}: quiet {row['quiet_s']:.1f} s, loaded {row['loaded_s']:.1f} s, "
              f"ratio {row['ratio']:.2f}: {row['verdict']}", flush=True)
        for name, run in (("quiet", quiet), ("loaded", loaded)):
            if not run["ok"]:
                print(f"--- {notebook.name}, {name} run, end of output:\n{run['tail']}", flush=True)
        write(args, load, rows)  # after every lesson, so an interrupted run keeps its numbers

    print()
    print(table(rows, args.factor))
    print(f"written to {args.out}")
    return 0 if all(r["verdict"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
