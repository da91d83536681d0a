# expect: lose
# why: torch.topk picks the LARGEST by default; without largest=False it prunes the biggest weights.
import torch


def magnitude_prune_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    num_pruned = round(sparsity * weight.numel())
    pruned = torch.topk(weight.detach().abs().flatten(), num_pruned).indices
    mask = torch.ones(weight.numel(), dtype=torch.bool)
    mask[pruned] = False
    return mask.view(weight.shape)
