# expect: lose
# why: sorts the signed weights, so it prunes the most negative weights instead of the smallest |w|.
import torch


def magnitude_prune_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    num_pruned = round(sparsity * weight.numel())
    order = torch.argsort(weight.detach().flatten(), stable=True)
    mask = torch.ones(weight.numel(), dtype=torch.bool)
    mask[order[:num_pruned]] = False
    return mask.view(weight.shape)
