# expect: lose
# why: `param = param * mask` rebinds a local name and leaves the model's weights unchanged.
import torch
from torch import nn


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, mask in masks.items():
            param = model.get_parameter(name)
            param = param * mask  # noqa: F841
