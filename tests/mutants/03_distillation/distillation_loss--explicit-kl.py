# expect: full
# why: the KL written out with xlogy (0 log 0 = 0), summed over classes and averaged over the batch.
import torch
from torch.nn import functional as F


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor, T: float, alpha: float) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    p_teacher = torch.softmax(teacher_logits.detach() / T, dim=-1)
    log_p_student = torch.log_softmax(student_logits / T, dim=-1)
    kl = (torch.xlogy(p_teacher, p_teacher) - p_teacher * log_p_student).sum(dim=-1).mean()
    hard = F.cross_entropy(student_logits, labels)
    return alpha * T * T * kl + (1 - alpha) * hard
