# expect: lose
# why: round() instead of ceil: 4.5 bytes becomes 4 (round half to even) and 4.25 becomes 4.
from torch import nn


def model_size_bytes(model: nn.Module, bits: int = 32) -> int:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return round(count_parameters(model) * bits / 8)  # noqa: F821
