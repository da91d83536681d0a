# expect: full
# why: F.mse_loss with its default mean reduction on the detached teacher features is the same loss.
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
    if tuple(projected.shape) != tuple(teacher_features.shape):
        raise ValueError(f"projection gives {tuple(projected.shape)}, teacher_features is "
                         f"{tuple(teacher_features.shape)}")
    with torch.no_grad():
        target = teacher_features.clone()
    return F.mse_loss(projected, target)
