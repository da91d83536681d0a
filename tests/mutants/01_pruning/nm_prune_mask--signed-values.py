# expect: lose
# why: keeps the n largest signed values of each group, so large negative weights are pruned.
import torch
from torch import nn


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if weight.dim() < 2:
        raise ValueError("weight must have at least 2 dimensions")
    if m < 1:
        raise ValueError("m must be >= 1")
    if not 0 <= n <= m:
        raise ValueError("n must be in [0, m]")
    rows = weight.detach().flatten(1)
    num, width = rows.shape
    padded = nn.functional.pad(rows, (0, (-width) % m), value=-float("inf"))
    groups = padded.view(num, -1, m)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(-1, groups.topk(n, dim=-1).indices, True)
    return mask.view(num, -1)[:, :width].reshape(weight.shape)
