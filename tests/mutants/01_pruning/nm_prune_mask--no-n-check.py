# expect: lose
# why: never validates n, so n > m or n < 0 fails with a cryptic error (or none), not a ValueError naming n.
import torch
from torch import nn


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if weight.dim() < 2:
        raise ValueError("weight must have at least 2 dimensions")
    if m < 1:
        raise ValueError("m must be >= 1")
    rows = weight.detach().abs().flatten(1)
    num, width = rows.shape
    padded = nn.functional.pad(rows, (0, (-width) % m), value=-1.0)
    groups = padded.view(num, -1, m)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(-1, groups.topk(min(max(n, 0), m), dim=-1).indices, True)
    return mask.view(num, -1)[:, :width].reshape(weight.shape)
