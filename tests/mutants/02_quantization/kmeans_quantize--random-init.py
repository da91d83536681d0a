# expect: lose
# why: initialises the centroids from randomly chosen weights instead of linearly spaced values.
import torch


def kmeans_quantize(w: torch.Tensor, bits: int, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    values = w.detach().float().flatten()
    k = 2**bits
    generator = torch.Generator().manual_seed(0)
    codebook = values[torch.randint(len(values), (k,), generator=generator)].clone()

    def nearest(codebook):
        return (values[:, None] - codebook[None, :]).abs().argmin(dim=1)

    for _ in range(iters):
        labels = nearest(codebook)
        sums = torch.zeros(k).index_add_(0, labels, values)
        counts = torch.bincount(labels, minlength=k)
        codebook = torch.where(counts > 0, sums / counts.clamp(min=1), codebook)
    return codebook, nearest(codebook).reshape(w.shape)
