# expect: lose
# why: a threshold with <= prunes every weight tied with the k-th smallest, more than k.
import torch


def magnitude_prune_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    k = round(sparsity * weight.numel())
    if k == 0:
        return torch.ones_like(weight, dtype=torch.bool)
    threshold = weight.detach().abs().flatten().kthvalue(k).values
    return weight.detach().abs() > threshold
