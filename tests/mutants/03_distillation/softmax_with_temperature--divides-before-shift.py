# expect: lose
# why: torch.softmax(logits / T): stable for large logits, but logits / T itself overflows to inf for a tiny T (1e36 / 1e-3 in float32).
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range for logits of {logits.dim()} dimensions")
    return torch.softmax(logits / T, dim=dim)
