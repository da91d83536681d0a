# expect: lose
# why: passes any norm on to torch (a p-norm for 3 or 1.5), never raising the ValueError naming norm.
import torch


def channel_l2_importance(conv_weight: torch.Tensor, norm: int = 2) -> torch.Tensor:
    return conv_weight.detach().flatten(1).norm(p=norm, dim=1)
