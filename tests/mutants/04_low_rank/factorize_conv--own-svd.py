# expect: full
# why: its own truncated SVD (all of S in the 1x1 conv) gives the same best rank-r product.
import torch
from torch import nn


def factorize_conv(conv: nn.Conv2d, rank: int) -> nn.Sequential:
    if conv.groups != 1:
        raise ValueError("conv: only groups=1 convolutions can be factorized")
    c_out, c_in, kh, kw = conv.weight.shape
    matrix = conv.weight.detach().flatten(1)
    if not 1 <= rank <= min(matrix.shape):
        raise ValueError(f"rank must be in [1, {min(matrix.shape)}], got {rank}")
    U, S, Vh = torch.linalg.svd(matrix, full_matrices=False)
    first = nn.Conv2d(c_in, rank, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, bias=False, padding_mode=conv.padding_mode)
    second = nn.Conv2d(rank, c_out, kernel_size=1, bias=conv.bias is not None)
    first.weight = nn.Parameter(Vh[:rank].reshape(rank, c_in, kh, kw).clone())
    second.weight = nn.Parameter((U[:, :rank] * S[:rank]).reshape(c_out, rank, 1, 1).clone())
    if conv.bias is not None:
        second.bias = nn.Parameter(conv.bias.detach().clone())
    return nn.Sequential(first, second)
