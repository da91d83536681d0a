# expect: lose
# why: averages the parameters themselves instead of their gradients.
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    world_size = dist.get_world_size()
    with torch.no_grad():
        for parameter in model.parameters():
            dist.all_reduce(parameter.data, op=dist.ReduceOp.SUM)
            parameter.data /= world_size
