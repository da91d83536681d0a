# expect: full
# why: each worker holding a list of chunk tensors, replaced (not edited in place) per message, is correct.
import torch


def ring_allreduce(tensors: list[torch.Tensor], log: list | None = None) -> tuple[list[torch.Tensor], int]:
    if not tensors:
        raise ValueError("tensors must not be empty")
    if len({tuple(t.shape) for t in tensors}) != 1:
        raise ValueError("tensors must share one shape")
    n = len(tensors)
    held = [[piece.clone() for piece in t.detach().reshape(-1).tensor_split(n)] for t in tensors]
    sent = [0] * n
    for step in range(2 * (n - 1)):
        reducing = step < n - 1
        outgoing = []
        for i in range(n):
            c = (i - step) % n if reducing else (i + 1 - (step - (n - 1))) % n
            outgoing.append((i, (i + 1) % n, c, held[i][c].clone()))
        for src, dst, c, payload in outgoing:
            held[dst][c] = held[dst][c] + payload if reducing else payload.clone()
            sent[src] += payload.numel()
            if log is not None:
                log.append((step, src, dst, c, payload))
    results = [torch.cat(pieces).reshape(tensors[0].shape).to(tensors[0].dtype) for pieces in held]
    return results, max(sent)
