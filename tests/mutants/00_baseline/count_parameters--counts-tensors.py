# expect: lose
# why: counts parameter tensors instead of their elements.
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return len([p for p in model.parameters() if p.requires_grad or not trainable_only])
