# expect: lose
# why: leaves a tail group shorter than m dense instead of keeping min(n, r) of it.
import torch


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if weight.dim() < 2:
        raise ValueError("weight must have at least 2 dimensions")
    if m < 1:
        raise ValueError("m must be >= 1")
    if not 0 <= n <= m:
        raise ValueError("n must be in [0, m]")
    rows = weight.detach().abs().flatten(1)
    num, width = rows.shape
    full = width - width % m
    mask = torch.ones(num, width, dtype=torch.bool)
    if full:
        groups = rows[:, :full].reshape(num, -1, m)
        body = torch.zeros_like(groups, dtype=torch.bool)
        body.scatter_(-1, groups.topk(n, dim=-1).indices, True)
        mask[:, :full] = body.reshape(num, full)
    return mask.reshape(weight.shape)
