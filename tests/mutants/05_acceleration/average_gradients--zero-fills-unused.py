# expect: lose
# why: gives every parameter without a gradient a zero gradient so that the buffer covers all parameters, which lets weight decay or Adam move a layer that was never used.
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    params = list(model.parameters())
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    buffer = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(buffer)
    buffer /= dist.get_world_size()
    for p, piece in zip(params, torch.split(buffer, [p.numel() for p in params]), strict=True):
        p.grad.copy_(piece.view_as(p))
