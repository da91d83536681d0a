# expect: lose
# why: only masks the gradients; the pruned weights themselves are never set to zero.
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    for name, mask in masks.items():
        model.get_parameter(name).register_hook(lambda grad, mask=mask: grad * mask)
