# expect: lose
# why: summing state_dict() counts buffers (BatchNorm running stats) and a shared weight twice.
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(t.numel() for t in model.state_dict().values()
               if not trainable_only or t.requires_grad)
