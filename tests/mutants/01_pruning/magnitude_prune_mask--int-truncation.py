# expect: lose
# why: int() truncates where the contract says round(sparsity * numel) (Python's round).
import torch


def magnitude_prune_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    num_pruned = int(sparsity * weight.numel())
    order = torch.argsort(weight.detach().abs().flatten(), stable=True)
    mask = torch.ones(weight.numel(), dtype=torch.bool)
    mask[order[:num_pruned]] = False
    return mask.view(weight.shape)
