# expect: full
# why: the same three rules written differently (one quantile per call, a list of candidates and index of the smallest error): a correct alternative.
# ruff: noqa: F821 (the lesson's own functions come from the notebook)
import torch


def calibrate_range(activations, method, bits=8, percentile=99.99, grid=100):
    if method not in ("minmax", "percentile", "mse"):
        raise ValueError(f"unknown method {method!r}")
    if bits < 1 or bits > 16:
        raise ValueError(f"bits={bits} is outside [1, 16]")
    if percentile <= 50 or percentile > 100:
        raise ValueError(f"percentile={percentile} is outside (50, 100]")
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid={grid} must be a positive int")
    if activations.numel() == 0:
        raise ValueError("activations is empty")
    x = activations.detach().reshape(-1)
    if method == "minmax":
        return affine_qparams(x, bits)
    if method == "percentile":
        lo = torch.quantile(x.double(), 1 - percentile / 100).item()
        hi = torch.quantile(x.double(), percentile / 100).item()
        return affine_qparams(torch.tensor([lo, hi], dtype=torch.float64), bits)
    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
    candidates = [affine_qparams(torch.tensor([k / grid * lo, k / grid * hi]), bits)
                  for k in range(1, grid + 1)]
    errors = [(dequantize(quantize(x, s, z, bits), s, z) - x).square().mean().item()
              for s, z in candidates]
    return candidates[errors.index(min(errors))]
