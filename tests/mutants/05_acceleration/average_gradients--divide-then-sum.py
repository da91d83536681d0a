# expect: full
# why: dividing each gradient by N before summing gives the same average.
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    size = dist.get_world_size()
    for parameter in model.parameters():
        if parameter.grad is None:
            continue
        parameter.grad.div_(size)
        dist.all_reduce(parameter.grad)
