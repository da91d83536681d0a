# expect: lose
# why: weights the soft term by 1 - alpha and the label term by alpha, the other way round.
import torch
from torch.nn import functional as F


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor, T: float, alpha: float) -> torch.Tensor:
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    teacher_probs = F.softmax(teacher_logits.detach() / T, dim=-1)
    student_log_probs = F.log_softmax(student_logits / T, dim=-1)
    soft = F.kl_div(student_log_probs, teacher_probs, reduction="batchmean")
    return (1 - alpha) * T**2 * soft + alpha * F.cross_entropy(student_logits, labels)
