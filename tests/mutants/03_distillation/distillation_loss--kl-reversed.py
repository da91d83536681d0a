# expect: lose
# why: computes KL(p_student || p_teacher), kl_div's arguments swapped.
import torch
from torch.nn import functional as F


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor, T: float, alpha: float) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    teacher_log_probs = F.log_softmax(teacher_logits.detach() / T, dim=-1)
    student_probs = F.softmax(student_logits / T, dim=-1)
    soft = F.kl_div(teacher_log_probs, student_probs, reduction="batchmean")
    return alpha * T**2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)
