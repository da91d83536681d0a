# expect: lose
# why: detaches the student's features as well, so only the projection learns and the student gets no hint.
import torch
from torch import nn
from torch.nn import functional as F


def feature_distillation_loss(student_features: torch.Tensor, teacher_features: torch.Tensor,
                              projection: nn.Module) -> torch.Tensor:
    if student_features.dim() < 2:
        raise ValueError("student_features must be at least 2-D")
    if teacher_features.dim() < 2 or teacher_features.shape[0] != student_features.shape[0]:
        raise ValueError("teacher_features must be at least 2-D with the batch size of student_features")
    projected = projection(student_features.detach())
    if projected.shape != teacher_features.shape:
        raise ValueError("projection output does not match teacher_features")
    return F.mse_loss(projected, teacher_features.detach())
