# expect: lose
# why: reuses next_conv's bias Parameter, so fine-tuning the pruned pair changes the original layer.
import torch
from torch import nn


def prune_conv_channels(conv: nn.Conv2d, next_conv: nn.Conv2d, keep: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    if keep < 1 or keep > conv.out_channels:
        raise ValueError(f"keep={keep} is outside [1, {conv.out_channels}]")
    norms = conv.weight.detach().flatten(1).norm(dim=1)
    kept = torch.sort(torch.topk(norms, keep).indices).values
    new_conv = nn.Conv2d(conv.in_channels, keep, conv.kernel_size, conv.stride, conv.padding,
                         conv.dilation, bias=conv.bias is not None)
    new_next = nn.Conv2d(keep, next_conv.out_channels, next_conv.kernel_size, next_conv.stride,
                         next_conv.padding, next_conv.dilation, bias=False)
    with torch.no_grad():
        new_conv.weight.copy_(conv.weight[kept])
        if conv.bias is not None:
            new_conv.bias.copy_(conv.bias[kept])
        new_next.weight.copy_(next_conv.weight[:, kept])
    new_next.bias = next_conv.bias
    return new_conv, new_next
