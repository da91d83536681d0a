"""The few plot shapes the lessons use; every plot has a title, labelled axes and a legend.

Each function draws one figure, shows it, and returns the matplotlib ``Figure`` (so a
lesson can save or restyle it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch


def _finish(fig, ax, title: str, xlabel: str, ylabel: str, legend: bool):
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.show()
    return fig


def line_plot(x: Sequence[float], series: Mapping[str, Sequence[float]], title: str,
              xlabel: str, ylabel: str, logx: bool = False, logy: bool = False,
              markers: bool = True, hlines: Mapping[str, float] | None = None):
    """One line per entry of ``series`` (label -> y values over ``x``).

    ``hlines`` draws dashed horizontal reference lines (label -> y).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for label, ys in series.items():
        ax.plot(list(x)[: len(ys)], list(ys), marker="o" if markers else None, label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, linestyle="--", color="gray", linewidth=1)
        ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"),
                    textcoords="offset points", xytext=(4, 4), fontsize=8, color="gray")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    return _finish(fig, ax, title, xlabel, ylabel, legend=len(series) > 1)


def bar_plot(values: Mapping[str, float], title: str, ylabel: str, logy: bool = False,
             annotate: str = "{:.3g}"):
    """One bar per entry (label -> value), each annotated with its value."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    for bar, value in zip(bars, values.values(), strict=True):
        ax.annotate(annotate.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    if logy:
        ax.set_yscale("log")
    ax.tick_params(axis="x", labelrotation=20)
    return _finish(fig, ax, title, "", ylabel, legend=False)


def histogram(samples: Mapping[str, torch.Tensor | Sequence[float]], title: str, xlabel: str,
              bins: int = 100, logy: bool = False):
    """Overlaid histograms, one per entry (label -> values)."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for label, values in samples.items():
        values = torch.as_tensor(values).detach().flatten().float().cpu().numpy()
        ax.hist(values, bins=bins, alpha=0.6, label=label)
    if logy:
        ax.set_yscale("log")
    return _finish(fig, ax, title, xlabel, "count", legend=len(samples) > 1)


def training_curves(histories: Mapping[str, object], title: str = "Validation accuracy"):
    """Validation accuracy per epoch of each ``training.History`` (label -> history)."""
    series = {label: [100 * a for a in h.val_accuracy] for label, h in histories.items()}
    longest = max(len(s) for s in series.values())
    return line_plot(range(1, longest + 1), series, title, "epoch", "validation accuracy (%)",
                     markers=False)


def latency_samples(samples_ms: Sequence[float], title: str):
    """Single timings in call order (left) and their distribution (right), median marked."""
    values = torch.as_tensor(samples_ms, dtype=torch.float64)
    median = values[1:].median().item() if len(values) > 1 else values.item()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(values.numpy(), marker=".", linestyle="none")
    left.axhline(median, color="tab:red", linestyle="--", label=f"median {median:.3f} ms")
    left.set_yscale("log")
    left.set_xlabel("call number")
    left.set_ylabel("latency (ms, log scale)")
    left.set_title("each call, in order")
    left.legend()
    right.hist(values.numpy(), bins=60, color="tab:blue")
    right.axvline(median, color="tab:red", linestyle="--", label="median")
    right.set_xlabel("latency (ms)")
    right.set_ylabel("count")
    right.set_title("distribution")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    return fig


def show_digits(images: torch.Tensor, labels: torch.Tensor, title: str = "Digits"):
    """A row of 8x8 digits with their labels (``images`` ``[N, 64]`` or ``[N, 1, 8, 8]``)."""
    images = images.reshape(len(images), 8, 8).cpu()
    fig, axes = plt.subplots(1, len(images), figsize=(1.1 * len(images), 1.6))
    for ax, image, label in zip(axes, images, labels, strict=True):
        ax.imshow(image.numpy(), cmap="gray_r")
        ax.set_title(str(int(label)))
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    return fig


def roofline(points: Mapping[str, tuple[float, float]], peak_gflops: float,
             bandwidth_gbs: float, title: str):
    """A roofline: attainable GFLOP/s = min(peak, bandwidth x intensity), log-log.

    ``points`` maps a label to ``(arithmetic intensity in FLOP/byte, measured GFLOP/s)``;
    ``peak_gflops`` (GFLOP/s) and ``bandwidth_gbs`` (GB/s) draw the roof.
    """
    intensities = [i for i, _ in points.values()]
    low, high = min(intensities + [0.05]) / 2, max(intensities + [peak_gflops / bandwidth_gbs]) * 2
    grid = torch.logspace(torch.log10(torch.tensor(low)), torch.log10(torch.tensor(high)), 200)
    roof = torch.minimum(torch.full_like(grid, peak_gflops), bandwidth_gbs * grid)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(grid.numpy(), roof.numpy(), color="gray", linestyle="--",
            label=f"roof: {bandwidth_gbs:.3g} GB/s x intensity, capped at {peak_gflops:.3g} GFLOP/s")
    for label, (intensity, gflops) in points.items():
        ax.scatter([intensity], [gflops], label=label, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return _finish(fig, ax, title, "arithmetic intensity (FLOP/byte)", "throughput (GFLOP/s)",
                   legend=True)
