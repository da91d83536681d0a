# expect: full
# why: PyTorch's own flatten/unflatten helpers pack the gradients into one buffer, and dividing each element by N before the single sum gives the same mean.
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if grads:
        flat = torch._utils._flatten_dense_tensors(grads) / dist.get_world_size()
        dist.all_reduce(flat)
        for grad, mean in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads), strict=True):
            grad.copy_(mean)
