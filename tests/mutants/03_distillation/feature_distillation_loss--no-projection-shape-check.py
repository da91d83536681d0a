# expect: lose
# why: trusts F.mse_loss to catch a projection of the wrong width, but it broadcasts [B, 1] against [B, d] with only a warning.
import torch
from torch import nn
from torch.nn import functional as F


def feature_distillation_loss(student_features: torch.Tensor, teacher_features: torch.Tensor,
                              projection: nn.Module) -> torch.Tensor:
    if student_features.dim() < 2:
        raise ValueError("student_features must be at least 2-D")
    if teacher_features.dim() < 2 or teacher_features.shape[0] != student_features.shape[0]:
        raise ValueError("teacher_features must be at least 2-D with the batch size of student_features")
    return F.mse_loss(projection(student_features), teacher_features.detach())
