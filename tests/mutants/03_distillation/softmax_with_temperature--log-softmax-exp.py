# expect: full
# why: exp(log_softmax((z - max) / T)) is the same stable softmax along dim.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range for logits of {logits.dim()} dimensions")
    shifted = (logits - logits.amax(dim=dim, keepdim=True)) / T
    return torch.log_softmax(shifted, dim=dim).exp()
