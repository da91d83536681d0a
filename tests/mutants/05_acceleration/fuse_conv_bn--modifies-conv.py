# expect: lose
# why: folds the BatchNorm into the given conv in place and returns it, changing the caller's layer.
import torch
from torch import nn


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (conv_bias - bn.running_mean) * scale + bn.bias
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        conv.bias = nn.Parameter(new_bias.clone())
    return conv
