# expect: lose
# why: integer division rounds down, so a partial byte is lost (e.g. 3 parameters at 4 bits).
from torch import nn


def model_size_bytes(model: nn.Module, bits: int = 32) -> int:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return count_parameters(model) * bits // 8  # noqa: F821
