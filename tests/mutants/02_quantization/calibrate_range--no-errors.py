# expect: lose
# why: treats any method other than "minmax" or "percentile" as "mse" and never checks percentile or grid, so a typo like "max" silently runs the search.
# ruff: noqa: F821 (the lesson's own functions come from the notebook)
import torch


def calibrate_range(activations, method, bits=8, percentile=99.99, grid=100):
    x = activations.detach().flatten()
    if x.numel() == 0:
        raise ValueError("activations must not be empty")
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be in [1, 16], got {bits}")
    if method == "minmax":
        return affine_qparams(x, bits)
    if method == "percentile":
        levels = torch.tensor([1 - percentile / 100, percentile / 100], dtype=torch.float64)
        return affine_qparams(torch.quantile(x.double(), levels), bits)
    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
    best = None
    for k in range(1, max(grid, 1) + 1):
        scale, zp = affine_qparams(torch.tensor([k / grid * lo, k / grid * hi]), bits)
        error = (dequantize(quantize(x, scale, zp, bits), scale, zp) - x).pow(2).mean().item()
        if best is None or error < best[0]:
            best = (error, scale, zp)
    return best[1], best[2]
