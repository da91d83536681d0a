# expect: lose
# why: slices next_conv's OUTPUT channels (dim 0) instead of its input channels (dim 1).
import torch
from torch import nn


def prune_conv_channels(conv: nn.Conv2d, next_conv: nn.Conv2d, keep: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    if not 1 <= keep <= conv.out_channels:
        raise ValueError(f"keep must be in [1, {conv.out_channels}], got {keep}")
    kept = torch.topk(channel_l2_importance(conv.weight), keep).indices.sort().values  # noqa: F821
    new_conv = nn.Conv2d(conv.in_channels, keep, conv.kernel_size, conv.stride, conv.padding,
                         conv.dilation, bias=conv.bias is not None, dtype=conv.weight.dtype)
    kept_next = kept[kept < next_conv.out_channels]
    new_next = nn.Conv2d(next_conv.in_channels, len(kept_next), next_conv.kernel_size,
                         next_conv.stride, next_conv.padding, next_conv.dilation,
                         bias=next_conv.bias is not None, dtype=next_conv.weight.dtype)
    with torch.no_grad():
        new_conv.weight.copy_(conv.weight[kept])
        if conv.bias is not None:
            new_conv.bias.copy_(conv.bias[kept])
        new_next.weight.copy_(next_conv.weight[kept_next])
        if next_conv.bias is not None:
            new_next.bias.copy_(next_conv.bias[kept_next])
    return new_conv, new_next
