# expect: lose
# why: groups a conv weight's entries in (kh, kw, in) order, not along weight.flatten(1).
import torch
from torch import nn


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if weight.dim() < 2:
        raise ValueError("weight must have at least 2 dimensions")
    if m < 1:
        raise ValueError("m must be >= 1")
    if not 0 <= n <= m:
        raise ValueError("n must be in [0, m]")
    w = weight.detach().abs()
    if w.dim() == 4:
        w = w.permute(0, 2, 3, 1)
    rows = w.flatten(1)
    num, width = rows.shape
    padded = nn.functional.pad(rows, (0, (-width) % m), value=-1.0)
    groups = padded.view(num, -1, m)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(-1, groups.topk(n, dim=-1).indices, True)
    mask = mask.view(num, -1)[:, :width].reshape(w.shape)
    if weight.dim() == 4:
        mask = mask.permute(0, 3, 1, 2)
    return mask.contiguous()
