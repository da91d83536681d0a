"""How the course measures: parameters, bytes, sparsity, FLOPs, latency, and results.

- FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts as
  2 FLOPs, as PyTorch counts them).
- Latency comes from ``torch.utils.benchmark.Timer``: it warms up, synchronises CUDA
  before reading the clock, repeats until ``min_run_time`` has passed and reports the
  median. Its default is ONE thread; here ``num_threads`` is always explicit (all cores
  unless told otherwise).
- ``save_results`` writes a lesson's headline numbers to ``results/NN_name.json``.
"""

from __future__ import annotations

import json
import math
import os
import time
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
