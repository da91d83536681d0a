# expect: lose
# why: scores each candidate on the first 32 activations only (a "fast" subsample), so on large inputs it can pick a range that is worse over all of them.
# ruff: noqa: F821 (the lesson's own functions come from the notebook)
import torch


def calibrate_range(activations, method, bits=8, percentile=99.99, grid=100):
    if method not in ("minmax", "percentile", "mse"):
        raise ValueError(f"method must be minmax, percentile or mse, got {method!r}")
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be in [1, 16], got {bits}")
    if not 50 < percentile <= 100:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    x = activations.detach().flatten()
    if x.numel() == 0:
        raise ValueError("activations must not be empty")
    if method == "minmax":
        return affine_qparams(x, bits)
    if method == "percentile":
        levels = torch.tensor([1 - percentile / 100, percentile / 100], dtype=torch.float64)
        return affine_qparams(torch.quantile(x.double(), levels), bits)
    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
    sample = x[:32]
    best = None
    for k in range(1, grid + 1):
        scale, zp = affine_qparams(torch.tensor([k / grid * lo, k / grid * hi]), bits)
        error = (dequantize(quantize(sample, scale, zp, bits), scale, zp) - sample).pow(2).mean().item()
        if best is None or error < best[0]:
            best = (error, scale, zp)
    return best[1], best[2]
