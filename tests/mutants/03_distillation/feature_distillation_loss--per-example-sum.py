# expect: lose
# why: sums the squared error over the features and averages over the batch only (FitNets' per-example norm), a number d_t times larger than the stated mean.
import torch
from torch import nn


def feature_distillation_loss(student_features: torch.Tensor, teacher_features: torch.Tensor,
                              projection: nn.Module) -> torch.Tensor:
    if student_features.dim() < 2:
        raise ValueError("student_features must be at least 2-D")
    if teacher_features.dim() < 2 or teacher_features.shape[0] != student_features.shape[0]:
        raise ValueError("teacher_features must be at least 2-D with the batch size of student_features")
    projected = projection(student_features)
    if projected.shape != teacher_features.shape:
        raise ValueError("projection output does not match teacher_features")
    return ((projected - teacher_features.detach()) ** 2).flatten(1).sum(dim=1).mean()
