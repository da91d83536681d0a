# expect: full
# why: torch.topk(largest=False) picks exactly the k smallest |w| (any tie order is fine).
import torch


def magnitude_prune_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    if sparsity < 0 or sparsity > 1:
        raise ValueError(f"sparsity must lie in [0, 1], got {sparsity}")
    flat = weight.detach().abs().reshape(-1)
    k = round(sparsity * flat.numel())
    mask = torch.ones(flat.numel(), dtype=torch.bool, device=weight.device)
    if k > 0:
        mask[torch.topk(flat, k, largest=False).indices] = False
    return mask.reshape(weight.shape)
