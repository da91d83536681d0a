# expect: lose
# why: copies the paper's 1/2 in front of the squared error, which the exercise's mean does not have.
import torch
from torch import nn
from torch.nn import functional as F


def feature_distillation_loss(student_features: torch.Tensor, teacher_features: torch.Tensor,
                              projection: nn.Module) -> torch.Tensor:
    if student_features.dim() < 2:
        raise ValueError("student_features must be at least 2-D")
    if teacher_features.dim() < 2 or teacher_features.shape[0] != student_features.shape[0]:
        raise ValueError("teacher_features must be at least 2-D with the batch size of student_features")
    projected = projection(student_features)
    if projected.shape != teacher_features.shape:
        raise ValueError("projection output does not match teacher_features")
    return 0.5 * F.mse_loss(projected, teacher_features.detach())
