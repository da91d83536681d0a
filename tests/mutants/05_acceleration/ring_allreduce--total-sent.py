# expect: lose
# why: reports the elements sent by all workers together instead of the most one worker sent.
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
        messages = [(i, (i - step) % n) for i in range(n)]
        payloads = [chunks[i][c].clone() for i, c in messages]
        for (i, c), payload in zip(messages, payloads, strict=True):
            chunks[(i + 1) % n][c].add_(payload)
            sent[i] += payload.numel()
            if log is not None:
                log.append((step, i, (i + 1) % n, c, payload))
    for step in range(n - 1):
        messages = [(i, (i + 1 - step) % n) for i in range(n)]
        payloads = [chunks[i][c].clone() for i, c in messages]
        for (i, c), payload in zip(messages, payloads, strict=True):
            chunks[(i + 1) % n][c].copy_(payload)
            sent[i] += payload.numel()
            if log is not None:
                log.append((n - 1 + step, i, (i + 1) % n, c, payload))
    return [buffer.reshape(shape) for buffer in buffers], sum(sent)
