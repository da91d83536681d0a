# expect: full
# why: ceiling by integer arithmetic, with its own count of unique parameters, is correct.
from torch import nn


def model_size_bytes(model: nn.Module, bits: int = 32) -> int:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    total = sum(p.numel() for p in model.parameters())
    return (total * bits + 7) // 8
