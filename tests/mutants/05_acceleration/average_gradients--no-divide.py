# expect: lose
# why: all-reduces (sums) the flattened gradients but forgets to divide by the world size.
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    buffer = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    for g, piece in zip(grads, torch.split(buffer, [g.numel() for g in grads]), strict=True):
        g.copy_(piece.view_as(g))
