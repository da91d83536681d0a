# expect: lose
# why: keeps the old habit of searching alpha only in [0.3, 1] with 15 steps instead of k / grid, so it misses the best candidate.
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
    best = None
    for alpha in torch.linspace(0.3, 1.0, 15).tolist():
        scale, zp = affine_qparams(torch.tensor([x.min() * alpha, x.max() * alpha]), bits)
        error = (dequantize(quantize(x, scale, zp, bits), scale, zp) - x).pow(2).mean().item()
        if best is None or error < best[0]:
            best = (error, scale, zp)
    return best[1], best[2]
