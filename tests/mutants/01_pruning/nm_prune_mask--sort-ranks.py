# expect: full
# why: pads with -inf and keeps the entries whose descending rank within the group is below n.
import torch
from torch import nn


def nm_prune_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    if len(weight.shape) < 2:
        raise ValueError("weight must be at least 2-D")
    if m <= 0:
        raise ValueError("m must be positive")
    if not (0 <= n and n <= m):
        raise ValueError("n out of range [0, m]")
    rows = weight.detach().abs().flatten(1).double()
    num, width = rows.shape
    padded = nn.functional.pad(rows, (0, (-width) % m), value=-float("inf"))
    groups = padded.reshape(num, -1, m)
    ranks = groups.argsort(dim=-1, descending=True, stable=True).argsort(dim=-1)
    return (ranks < n).reshape(num, -1)[:, :width].reshape(weight.shape)
