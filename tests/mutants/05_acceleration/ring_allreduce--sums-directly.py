# expect: lose
# why: adds all tensors directly and reports the bound as elements_sent; nothing is simulated or logged.
import math

import torch


def ring_allreduce(tensors: list[torch.Tensor], log: list | None = None) -> tuple[list[torch.Tensor], int]:
    if len(tensors) < 1:
        raise ValueError("tensors must hold at least one tensor")
    n = len(tensors)
    total = torch.stack([t.detach() for t in tensors]).sum(dim=0).to(tensors[0].dtype)
    return [total.clone() for _ in range(n)], 2 * (n - 1) * math.ceil(tensors[0].numel() / n)
