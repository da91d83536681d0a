# expect: full
# why: an explicit loop that skips parameters already seen (by id) is a correct alternative.
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    seen, total = set(), 0
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if id(p) in seen or (trainable_only and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
    return total
