# expect: full
# why: each chunk is touched once per step, so sending views (no snapshot copies) is still correct.
import torch


def ring_allreduce(tensors: list[torch.Tensor], log: list | None = None) -> tuple[list[torch.Tensor], int]:
    if len(tensors) < 1:
        raise ValueError("tensors must hold at least one tensor")
    shape = tensors[0].shape
    if any(t.shape != shape for t in tensors):
        raise ValueError("tensors must all have the same shape")
    n = len(tensors)
    buffers = [t.detach().flatten().clone() for t in tensors]
    chunks = [list(buffer.tensor_split(n)) for buffer in buffers]
    sent = [0] * n
    for step in range(n - 1):
        for i in range(n):
            c = (i - step) % n
            payload = chunks[i][c]
            chunks[(i + 1) % n][c].add_(payload)
            sent[i] += payload.numel()
            if log is not None:
                log.append((step, i, (i + 1) % n, c, payload.clone()))
    for step in range(n - 1):
        for i in range(n):
            c = (i + 1 - step) % n
            payload = chunks[i][c]
            chunks[(i + 1) % n][c].copy_(payload)
            sent[i] += payload.numel()
            if log is not None:
                log.append((n - 1 + step, i, (i + 1) % n, c, payload.clone()))
    return [buffer.reshape(shape) for buffer in buffers], max(sent)
