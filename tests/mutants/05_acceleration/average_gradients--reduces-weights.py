# expect: lose
# why: averages the parameters themselves (in one buffer) instead of their gradients.
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    params = list(model.parameters())
    with torch.no_grad():
        buffer = torch.cat([p.flatten() for p in params])
        dist.all_reduce(buffer)
        buffer /= dist.get_world_size()
        for p, piece in zip(params, torch.split(buffer, [p.numel() for p in params]), strict=True):
            p.copy_(piece.view_as(p))
