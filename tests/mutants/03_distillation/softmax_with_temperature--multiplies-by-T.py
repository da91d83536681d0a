# expect: lose
# why: multiplies the logits by T, which sharpens the distribution instead of softening it.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range for logits of {logits.dim()} dimensions")
    shifted = (logits - logits.amax(dim=dim, keepdim=True)) * T
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
