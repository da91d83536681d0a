# expect: lose
# why: keeps topk's indices in importance order instead of the channels' original order.
import torch
from torch import nn


def prune_conv_channels(conv: nn.Conv2d, next_conv: nn.Conv2d, keep: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    if not 1 <= keep <= conv.out_channels:
        raise ValueError(f"keep must be in [1, {conv.out_channels}], got {keep}")
    kept = torch.topk(channel_l2_importance(conv.weight), keep).indices  # noqa: F821
    new_conv = nn.Conv2d(conv.in_channels, keep, conv.kernel_size, conv.stride, conv.padding,
                         conv.dilation, bias=conv.bias is not None, dtype=conv.weight.dtype)
    new_next = nn.Conv2d(keep, next_conv.out_channels, next_conv.kernel_size, next_conv.stride,
                         next_conv.padding, next_conv.dilation, bias=next_conv.bias is not None,
                         dtype=next_conv.weight.dtype)
    with torch.no_grad():
        new_conv.weight.copy_(conv.weight[kept])
        if conv.bias is not None:
            new_conv.bias.copy_(conv.bias[kept])
        new_next.weight.copy_(next_conv.weight[:, kept])
        if next_conv.bias is not None:
            new_next.bias.copy_(next_conv.bias)
    return new_conv, new_next
