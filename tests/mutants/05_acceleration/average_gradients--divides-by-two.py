# expect: lose
# why: one buffer, one all-reduce, but hard-codes 2 workers instead of asking the process group for its size.
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    buffer = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(buffer)
    buffer /= 2
    for g, piece in zip(grads, torch.split(buffer, [g.numel() for g in grads]), strict=True):
        g.copy_(piece.view_as(g))
