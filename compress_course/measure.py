"""How the course measures: parameters, bytes, sparsity, FLOPs, latency, and results.

- FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts as
  2 FLOPs, as PyTorch counts them).
- Latency comes from ``torch.utils.benchmark.Timer``: it warms up, synchronises CUDA
  before reading the clock, repeats until ``min_run_time`` has passed and reports the
  median. Its default is ONE thread; here ``num_threads`` is always explicit (all cores
  unless told otherwise).
- ``save_results`` writes a lesson's headline numbers to ``results/NN_name.json``.
- On a busy or unfamiliar machine: ``threads``/``one_thread`` pin the thread count,
  ``cpu_features``/``describe_cpu`` say what the CPU offers, and ``compare`` times
  contenders in alternating rounds so a speed-up comes with its spread and a verdict.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils import benchmark
from torch.utils.flop_counter import FlopCounterMode


def parameter_count(model: nn.Module) -> int:
    """Elements in ``model``'s parameters; a parameter shared by two layers counts once."""
    return sum(p.numel() for p in model.parameters())


def parameter_bytes(model: nn.Module, bits: int = 32) -> int:
    """Bytes to store every parameter at ``bits`` bits each (rounded up to whole bytes)."""
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return math.ceil(parameter_count(model) * bits / 8)


def sparsity(model_or_tensor: nn.Module | torch.Tensor, weights_only: bool = True) -> float:
    """Fraction of exact zeros.

    For a module: over the ``weight`` of every ``nn.Linear`` and ``nn.Conv2d`` when
    ``weights_only`` (the prunable weights), else over all parameters.
    """
    if isinstance(model_or_tensor, torch.Tensor):
        tensors = [model_or_tensor]
    elif weights_only:
        tensors = [m.weight for m in model_or_tensor.modules()
                   if isinstance(m, (nn.Linear, nn.Conv2d))]
    else:
        tensors = list(model_or_tensor.parameters())
    total = sum(t.numel() for t in tensors)
    if total == 0:
        raise ValueError("nothing to measure: no weights found")
    zeros = sum((t == 0).sum().item() for t in tensors)
    return zeros / total


def flops(model: nn.Module, example_input: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``model`` on ``example_input`` (whole batch)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example_input)
    return int(counter.get_total_flops())


def default_threads() -> int:
    """Threads used for latency by default: all the cores torch sees."""
    return torch.get_num_threads()


def benchmark_fn(fn, *args, num_threads: int | None = None, min_run_time: float = 0.5,
                 label: str = "") -> benchmark.Measurement:
    """Time ``fn(*args)`` with ``torch.utils.benchmark`` and return the Measurement.

    The Measurement holds every timed block: ``.median`` and ``.iqr`` are in seconds.
    """
    timer = benchmark.Timer(
        stmt="fn(*args)", globals={"fn": fn, "args": args},
        num_threads=num_threads or default_threads(), label=label)
    return timer.blocked_autorange(min_run_time=min_run_time)


def latency_ms(model: nn.Module, example_input: torch.Tensor, num_threads: int | None = None,
               min_run_time: float = 0.5) -> float:
    """Median latency in milliseconds of ``model(example_input)`` in inference mode.

    The model is put in eval mode. ``num_threads`` defaults to all cores.
    """
    model.eval()

    def forward(x):
        with torch.inference_mode():
            return model(x)

    return benchmark_fn(forward, example_input, num_threads=num_threads,
                        min_run_time=min_run_time).median * 1e3


def device_name() -> str:
    """A short description of where torch computes: the GPU's name, or ``cpu``."""
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return "cpu"


def results_dir() -> Path:
    """``results/`` at the course's root (found by walking up to ``pyproject.toml``).

    ``COMPRESS_COURSE_RESULTS`` overrides it.
    """
    if os.environ.get("COMPRESS_COURSE_RESULTS"):
        return Path(os.environ["COMPRESS_COURSE_RESULTS"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "compress_course").is_dir():
            return folder / "results"
    return here / "results"


def save_results(name: str, results: dict[str, Any], started: float) -> dict[str, Any]:
    """Write a lesson's headline numbers to ``results/<name>.json`` and return them.

    Args:
        name: the notebook's name, e.g. ``"00_baseline"``.
        results: plain numbers (or None) keyed by metric name.
        started: ``time.perf_counter()`` taken at the top of the notebook; ``wall_s`` is
            measured from it.

    Adds ``wall_s``, ``threads`` and ``device``, which every results file carries.
    """
    record = {key: _plain(value, key) for key, value in results.items()}
    record.update(wall_s=round(time.perf_counter() - started, 2),
                  threads=torch.get_num_threads(), device=device_name())
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _plain(value: Any, key: str) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return float(f"{value:.6g}")  # six significant digits: small errors stay visible
    if isinstance(value, (list, tuple)):
        return [_plain(v, key) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, k) for k, v in value.items()}
    try:
        return _plain(float(value), key)
    except (TypeError, ValueError):
        raise TypeError(f"results[{key!r}] must be a plain number, "
                        f"got {type(value).__name__}") from None


def results_table(record: dict[str, Any]) -> str:
    """A two-column text table of a results record, for printing in a notebook."""
    width = max(len(k) for k in record)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
    for key, value in record.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)


# --- Robust measurement on shared, noisy or unfamiliar machines -------------------------

@contextlib.contextmanager
def threads(n: int):
    """Run the block with torch on ``n`` intra-op threads, then restore the previous count.

    Small operators (tiny models, small SVDs, per-example loops) run faster on ONE thread:
    on a busy 2-core machine, two threads spinning on tiny operators were measured 170x
    slower than one. ``one_thread()`` is the short form.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n (threads) must be an integer >= 1, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(previous)


def one_thread():
    """``threads(1)``: for small-operator work, which extra threads only slow down."""
    return threads(1)


def cpu_features() -> dict[str, Any]:
    """What this CPU offers the kernels torch uses.

    Returns ``capability`` (``torch.backends.cpu.get_cpu_capability()``, the vector ISA
    PyTorch's own kernels dispatch to, e.g. ``AVX2`` or ``AVX512``), ``model_name``, and
    booleans read from ``/proc/cpuinfo`` (False where it cannot be read): ``avx2``,
    ``avx512f``, ``avx512_vnni`` (int8 dot products), ``avx512_bf16`` (bf16 dot products),
    ``amx_bf16`` and ``amx_int8`` (matrix tiles). Having an instruction does not make a
    kernel fast: measure.
    """
    flags: set[str] = set()
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    if model == "unknown":
        model = platform.processor() or platform.machine() or "unknown"
    features: dict[str, Any] = {"capability": torch.backends.cpu.get_cpu_capability(),
                                "model_name": model}
    for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"):
        features[flag] = flag in flags
    return features


def describe_cpu(features: dict[str, Any] | None = None) -> str:
    """One line naming the CPU, torch's kernel capability and the flags that matter here."""
    features = features or cpu_features()
    present = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16",
                           "amx_int8") if features.get(f)]
    return (f"{features['model_name']}, {os.cpu_count()} logical cores; torch kernels: "
            f"{features['capability']}; flags: {', '.join(present) or 'none of the listed'}")


@dataclass(frozen=True)
class Speedup:
    """A ratio ``base time / other time`` with its spread over alternating rounds.

    ``median`` > 1 means ``other`` is faster. ``low`` and ``high`` are the 10th and 90th
    percentiles of the ratios of every pair of rounds (each ``base`` round against each
    ``other`` round), so one lucky or unlucky round cannot decide the verdict.
    """

    median: float
    low: float
    high: float
    rounds: int
    margin: float = 0.1

    @property
    def verdict(self) -> str:
        """``faster`` if even ``low`` beats 1 + margin, ``slower`` if even ``high`` is below
        1 / (1 + margin), ``same`` if the whole spread sits inside that band, else
        ``too noisy``."""
        band = 1 + self.margin
        if self.low > band:
            return "faster"
        if self.high < 1 / band:
            return "slower"
        if self.low >= 1 / band and self.high <= band:
            return "same"
        return "too noisy"

    def spread(self) -> str:
        return f"{self.low:.2f}-{self.high:.2f}x over {self.rounds} alternating rounds"

    def text(self, other: str, base: str) -> str:
        """A sentence chosen by the measurement, e.g. ``"B is 2.31x faster than A ..."``."""
        verdict = self.verdict
        if verdict == "faster":
            return f"{other} is {self.median:.2f}x faster than {base} (spread {self.spread()})."
        if verdict == "slower":
            return (f"{other} is {1 / self.median:.2f}x SLOWER than {base} "
                    f"(ratio {self.median:.2f}x, spread {self.spread()}).")
        if verdict == "same":
            return (f"{other} and {base} run at the same speed within {self.margin:.0%} "
                    f"(ratio {self.median:.2f}x, spread {self.spread()}).")
        return (f"{other} vs {base}: ratio {self.median:.2f}x, but the spread "
                f"({self.spread()}) is too wide to tell: this machine was too noisy. "
                "Rerun this cell when nothing else is running.")

    def __format__(self, spec: str) -> str:
        return format(self.median, spec or ".2f")


@dataclass
class Comparison:
    """Per-round median times (seconds) of contenders timed in alternating rounds."""

    times: dict[str, list[float]]
    margin: float = 0.1

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def speedup(self, base: str, other: str) -> Speedup:
        """How many times faster ``other`` runs than ``base``, with its spread."""
        ratios = sorted(b / o for b in self.times[base] for o in self.times[other])
        return Speedup(median=self.median(base) / self.median(other),
                       low=_percentile(ratios, 0.1), high=_percentile(ratios, 0.9),
                       rounds=len(self.times[base]), margin=self.margin)

    def verdict(self, base: str, other: str) -> str:
        return self.speedup(base, other).verdict

    def table(self) -> str:
        """Median and spread (ms) of each contender, one line each."""
        lines = []
        for name, values in self.times.items():
            lines.append(f"{name:<28} median {statistics.median(values) * 1e3:9.3f} ms  "
                         f"(rounds {min(values) * 1e3:.3f}-{max(values) * 1e3:.3f} ms)")
        return "\n".join(lines)


def _percentile(sorted_values: list[float], q: float) -> float:
    position = q * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    return sorted_values[lower] * (1 - weight) + sorted_values[upper] * weight


def compare(contenders: dict[str, Any], rounds: int = 7, num_threads: int | None = None,
            min_run_time: float = 0.2, margin: float = 0.1) -> Comparison:
    """Time each zero-argument callable in ``contenders`` in alternating rounds.

    Round r times every contender once (A, B, C, A, B, C, ...) with
    ``torch.utils.benchmark`` for ``min_run_time`` seconds and keeps its median, so a burst
    of background load hits all contenders alike instead of one of them. Call
    ``.speedup(base, other)`` on the result for a ratio with its spread and a verdict.
    """
    if not contenders:
        raise ValueError("contenders must name at least one callable")
    if rounds < 2:
        raise ValueError(f"rounds must be >= 2 to show a spread, got {rounds}")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(benchmark_fn(fn, num_threads=num_threads,
                                            min_run_time=min_run_time).median)
    return Comparison(times=times, margin=margin)
