# expect: full
# why: torch.softmax of the shifted logits divided by T: the shift comes first, so nothing overflows.
import torch


def softmax_with_temperature(logits: torch.Tensor, T: float, dim: int = -1) -> torch.Tensor:
    if T <= 0:
        raise ValueError(f"temperature T must be positive, got T={T}")
    if dim < -logits.dim() or dim >= logits.dim():
        raise ValueError(f"dim {dim} is not a dimension of logits {tuple(logits.shape)}")
    top = logits.max(dim=dim, keepdim=True).values
    return torch.softmax((logits - top) / T, dim=dim)
