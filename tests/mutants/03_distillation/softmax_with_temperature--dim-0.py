# expect: lose
# why: normalises over dim 0 (the batch) whatever dim says, instead of along dim (by default the classes).
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range for logits of {logits.dim()} dimensions")
    shifted = (logits - logits.amax(dim=0, keepdim=True)) / T
    exps = shifted.exp()
    return exps / exps.sum(dim=0, keepdim=True)
