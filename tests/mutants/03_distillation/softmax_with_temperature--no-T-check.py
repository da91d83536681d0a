# expect: lose
# why: accepts T <= 0 (dividing by 0 or flipping the order) instead of raising a ValueError.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if not -logits.dim() <= dim < logits.dim():
        raise ValueError(f"dim={dim} is out of range")
    shifted = (logits - logits.amax(dim=dim, keepdim=True)) / T
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
