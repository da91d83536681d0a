# expect: lose
# why: groups m consecutive weights down a column (the output dimension) instead of along a row.
import torch
from torch import nn


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if weight.dim() < 2:
        raise ValueError("weight must have at least 2 dimensions")
    if m < 1:
        raise ValueError("m must be >= 1")
    if not 0 <= n <= m:
        raise ValueError("n must be in [0, m]")
    cols = weight.detach().abs().flatten(1).t()
    num, width = cols.shape
    padded = nn.functional.pad(cols, (0, (-width) % m), value=-1.0)
    groups = padded.reshape(num, -1, m)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(-1, groups.topk(n, dim=-1).indices, True)
    return mask.reshape(num, -1)[:, :width].t().reshape(weight.shape)
