# expect: lose
# why: rounds every tensor up to whole bytes separately instead of the total once.
import math

from torch import nn


def model_size_bytes(model: nn.Module, bits: int = 32) -> int:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return sum(math.ceil(p.numel() * bits / 8) for p in model.parameters())
