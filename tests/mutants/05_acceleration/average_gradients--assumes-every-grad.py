# expect: lose
# why: flattens every parameter's .grad without asking whether it exists, so a model with an unused layer crashes on None.
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    params = list(model.parameters())
    buffer = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(buffer)
    buffer /= dist.get_world_size()
    for p, piece in zip(params, torch.split(buffer, [p.numel() for p in params]), strict=True):
        p.grad.copy_(piece.view_as(p))
