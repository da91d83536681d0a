# expect: full
# why: deep copies of the layers with sliced parameters and updated channel counts are correct.
import copy

import torch
from torch import nn


def prune_conv_channels(conv: nn.Conv2d, next_conv: nn.Conv2d, keep: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    if keep < 1 or keep > conv.out_channels:
        raise ValueError(f"keep={keep} is outside [1, {conv.out_channels}]")
    norms = conv.weight.detach().flatten(1).norm(dim=1)
    kept = torch.sort(torch.topk(norms, keep).indices).values
    new_conv, new_next = copy.deepcopy(conv), copy.deepcopy(next_conv)
    new_conv.weight = nn.Parameter(conv.weight.detach()[kept].clone())
    if conv.bias is not None:
        new_conv.bias = nn.Parameter(conv.bias.detach()[kept].clone())
    new_conv.out_channels = keep
    new_next.weight = nn.Parameter(next_conv.weight.detach()[:, kept].clone())
    new_next.in_channels = keep
    return new_conv, new_next
