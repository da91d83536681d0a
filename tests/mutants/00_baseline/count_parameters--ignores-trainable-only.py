# expect: lose
# why: forgets the trainable_only flag, so frozen parameters are always counted.
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters())
