# expect: full
# why: Lloyd's algorithm written with a loop over clusters and masks is correct.
import torch


def kmeans_quantize(w: torch.Tensor, bits: int, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    values = w.detach().reshape(-1).to(torch.float32)
    codebook = torch.linspace(float(values.min()), float(values.max()), 2**bits)
    for _ in range(iters):
        labels = torch.argmin((values.unsqueeze(1) - codebook.unsqueeze(0)).abs(), dim=1)
        new = codebook.clone()
        for c in range(len(codebook)):
            members = values[labels == c]
            if members.numel() > 0:
                new[c] = members.mean()
        codebook = new
    labels = torch.argmin((values.unsqueeze(1) - codebook.unsqueeze(0)).abs(), dim=1)
    return codebook, labels.reshape(w.shape).to(torch.int64)
