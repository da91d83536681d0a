# expect: lose
# why: counts only trainable parameters, but frozen parameters must be stored too.
from torch import nn


def model_size_bytes(model: nn.Module, bits: int = 32) -> int:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    return -(-count_parameters(model, trainable_only=True) * bits // 8)  # noqa: F821
