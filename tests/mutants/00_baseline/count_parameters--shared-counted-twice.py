# expect: lose
# why: walks every module's own parameters, so a weight shared by two layers is counted twice.
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for module in model.modules()
               for p in module.parameters(recurse=False)
               if p.requires_grad or not trainable_only)
