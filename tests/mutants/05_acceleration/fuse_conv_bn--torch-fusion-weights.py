# expect: full
# why: torch.nn.utils.fusion.fuse_conv_bn_weights on a deep copy of the conv computes the same fold.
import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        conv.weight.detach(), None if conv.bias is None else conv.bias.detach(),
        bn.running_mean, bn.running_var, bn.eps, bn.weight.detach(), bn.bias.detach())
    return fused
