# expect: lose
# why: divides by the cluster size without a guard, so an empty cluster's centroid becomes NaN.
import torch


def kmeans_quantize(w: torch.Tensor, bits: int, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    values = w.detach().float().flatten()
    k = 2**bits
    codebook = torch.linspace(values.min().item(), values.max().item(), k)

    def nearest(codebook):
        return (values[:, None] - codebook[None, :]).abs().argmin(dim=1)

    for _ in range(iters):
        labels = nearest(codebook)
        sums = torch.zeros(k).index_add_(0, labels, values)
        codebook = sums / torch.bincount(labels, minlength=k)
    return codebook, nearest(codebook).reshape(w.shape)
