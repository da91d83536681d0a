# expect: lose
# why: subtracts the maximum of the whole tensor, not of each slice along dim: a slice far below the global maximum underflows to 0 / 0 at a small T.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range for logits of {logits.dim()} dimensions")
    shifted = (logits - logits.max()) / T
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
