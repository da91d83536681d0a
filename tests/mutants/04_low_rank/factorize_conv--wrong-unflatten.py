# expect: lose
# why: reshapes B's rows as [rank, kh, kw, C_in] and permutes, not the order the weight was flattened in.
import torch
from torch import nn


def factorize_conv(conv: nn.Conv2d, rank: int) -> nn.Sequential:
    if conv.groups != 1:
        raise ValueError(f"conv must have groups=1, got groups={conv.groups}")
    c_out, c_in, kh, kw = conv.weight.shape
    A, B = low_rank_factors(conv.weight.detach().reshape(c_out, c_in * kh * kw), rank)  # noqa: F821
    like = {"dtype": conv.weight.dtype, "device": conv.weight.device}
    first = nn.Conv2d(c_in, rank, (kh, kw), stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, bias=False, **like)
    second = nn.Conv2d(rank, c_out, 1, bias=conv.bias is not None, **like)
    with torch.no_grad():
        first.weight.copy_(B.reshape(rank, kh, kw, c_in).permute(0, 3, 1, 2))
        second.weight.copy_(A.reshape(c_out, rank, 1, 1))
        if conv.bias is not None:
            second.bias.copy_(conv.bias)
    return nn.Sequential(first, second)
