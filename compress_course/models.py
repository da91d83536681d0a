"""The course's model families.

Sizes on digits (64 inputs, 10 classes); parameter counts include biases:

============  ===========================================  ==========
builder       architecture                                  parameters
============  ===========================================  ==========
course_mlp    MLP 64-300-100-10 (LeNet-300-100's shape)         50,610
teacher_mlp   MLP 64-1024-1024-10                            1,126,410
student_mlp   MLP 64-32-10                                       2,410
course_cnn    CNN 32-64-128 channels, 3x3 convs, one Linear     93,962
============  ===========================================  ==========

Every model takes the digits features of ``compress_course.data`` (``[N, 64]`` for MLPs,
``[N, 1, 8, 8]`` for CNNs; MLPs flatten images themselves) and returns logits ``[N, 10]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn


class MLP(nn.Module):
    """Fully connected ReLU network: ``Linear -> ReLU -> ... -> Linear``.

    Layers live in ``self.layers`` (an ``nn.Sequential``), so parameter names read
    ``layers.0.weight``, ``layers.2.weight``, ...
    """

    def __init__(self, in_features: int = 64, hidden: Sequence[int] = (300, 100),
                 num_classes: int = 10):
        super().__init__()
        if in_features < 1 or num_classes < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"layer sizes must be >= 1, got in_features={in_features}, "
                             f"hidden={tuple(hidden)}, num_classes={num_classes}")
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


class CNN(nn.Module):
    """A small VGG-style CNN for 8x8 images.

    ``conv1 -> ReLU -> conv2 -> ReLU -> maxpool 2 -> conv3 -> ReLU -> global avg pool -> fc``,
    all convs 3x3 with padding 1. With ``batch_norm=True`` each conv is followed by a
    BatchNorm2d (``bn1``..``bn3``); otherwise those are identities. Spatial sizes: 8x8, 8x8,
    4x4. The convs are attributes ``conv1``..``conv3`` so lessons can replace them.
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128), num_classes: int = 10,
                 in_channels: int = 1, batch_norm: bool = False):
        super().__init__()
        if len(channels) != 3 or any(c < 1 for c in channels):
            raise ValueError(f"channels must be three positive ints, got {tuple(channels)}")
        c1, c2, c3 = channels
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c1) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c2) if batch_norm else nn.Identity()
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(c3) if batch_norm else nn.Identity()
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.bn3(self.conv3(x)))
        return self.fc(x.mean(dim=(2, 3)))


def course_mlp(hidden: Sequence[int] = (300, 100)) -> MLP:
    """The course's reference MLP (64-300-100-10, 50,610 parameters)."""
    return MLP(hidden=hidden)


def teacher_mlp() -> MLP:
    """A large MLP teacher for distillation (64-1024-1024-10, 1,126,410 parameters)."""
    return MLP(hidden=(1024, 1024))


def student_mlp(hidden: Sequence[int] = (32,)) -> MLP:
    """A small MLP student (64-32-10, 2,410 parameters: 467x fewer than the teacher)."""
    return MLP(hidden=hidden)


def course_cnn(channels: Sequence[int] = (32, 64, 128), batch_norm: bool = False) -> CNN:
    """The course's reference CNN (32-64-128 channels, 93,962 parameters)."""
    return CNN(channels=channels, batch_norm=batch_norm)


# --- Lesson 07: a small decoder-only language model --------------------------------------

def sinusoidal_positions(length: int, dim: int, start: int = 0) -> torch.Tensor:
    """Sinusoidal position codes (Vaswani et al. 2017), ``[length, dim]`` float32.

    Row ``p`` holds ``sin(p / 10000**(2i/dim))`` in column ``2i`` and the matching cosine in
    column ``2i + 1``, for positions ``start .. start + length - 1``. Defined for every
    position, so the model runs (if less well) beyond the context it was trained on.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be a positive even number, got {dim}")
    position = torch.arange(start, start + length, dtype=torch.float32)[:, None]
    frequency = torch.pow(10000.0, -torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    codes = torch.zeros(length, dim)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency)
    return codes


def sdpa_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """PyTorch's fused causal attention, ``[batch, heads, T, d]`` in and out."""
    return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


class Block(nn.Module):
    """A pre-LayerNorm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``.

    Linear layers: ``qkv`` (``d -> 3d``), ``proj`` (``d -> d``), ``fc1`` (``d -> 4d``),
    ``fc2`` (``4d -> d``); the MLP uses GELU.
    """

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, mlp_ratio * d_model)
        self.fc2 = nn.Linear(mlp_ratio * d_model, d_model)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` ``[B, T, d]`` -> ``q, k, v``, each ``[B, heads, T, d / heads]``."""
        B, T, d = x.shape
        qkv = self.qkv(self.ln1(x)).view(B, T, 3, self.n_heads, d // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        return q, k, v

    def finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The residual after attention (``attended``: ``[B, heads, T, d_head]``), then the MLP."""
        B, _, T, _ = attended.shape
        x = x + self.proj(attended.transpose(1, 2).reshape(B, T, -1))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))


class CharTransformer(nn.Module):
    """A decoder-only, pre-LN character language model.

    ``token embedding + sinusoidal positions -> n_layers x Block -> LayerNorm -> head``.
    ``forward(idx)`` maps indices ``[B, T]`` to next-character logits ``[B, T, vocab]``;
    ``decode_step`` runs one new position against per-layer key/value caches.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, n_layers: int = 4,
                 n_heads: int = 4, context: int = 128, mlp_ratio: int = 4):
        super().__init__()
        if min(vocab_size, d_model, n_layers, n_heads, context) < 1 or d_model % n_heads or \
                (d_model // n_heads) % 2:
            raise ValueError("need positive sizes and d_model divisible by n_heads into an "
                             f"even head size; got d_model={d_model}, n_heads={n_heads}")
        self.context, self.d_model, self.n_heads = context, d_model, n_heads
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, mlp_ratio) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, idx: torch.Tensor, attention=sdpa_causal,
                return_kv: bool = False):
        """Logits ``[B, T, vocab]`` for indices ``idx`` ``[B, T]``.

        ``attention(q, k, v)`` computes causal attention on ``[B, heads, T, d_head]``
        tensors (PyTorch's fused kernel by default). With ``return_kv`` also returns every
        layer's ``(k, v)``, ready to seed a KV cache.
        """
        T = idx.shape[1]
        x = self.embed(idx) + sinusoidal_positions(T, self.d_model).to(self.embed.weight)
        caches = []
        for block in self.blocks:
            q, k, v = block.heads(x)
            caches.append((k, v))
            x = block.finish(x, attention(q, k, v))
        logits = self.head(self.ln_f(x))
        return (logits, caches) if return_kv else logits

    def decode_step(self, token: torch.Tensor, position: int, caches: list, attend):
        """One new position: ``token`` ``[B]`` at ``position``; returns logits ``[B, vocab]``
        and the updated caches.

        ``attend(q_t, k_t, v_t, cache) -> (out, cache)`` does one layer's attention of the new
        query over the cache extended by the new key and value (``[B, heads, 1, d_head]``).
        """
        x = self.embed(token)[:, None] + sinusoidal_positions(
            1, self.d_model, start=position).to(self.embed.weight)
        new_caches = []
        for block, cache in zip(self.blocks, caches, strict=True):
            q, k, v = block.heads(x)
            attended, cache = attend(q, k, v, cache)
            new_caches.append(cache)
            x = block.finish(x, attended)
        return self.head(self.ln_f(x))[:, 0], new_caches


@torch.no_grad()
def generate(model: CharTransformer, prompt: torch.Tensor, steps: int, attend=None,
             attention=sdpa_causal) -> torch.Tensor:
    """Greedy decoding: ``prompt`` ``[B, T0]`` extended by ``steps`` most likely characters.

    Without ``attend``, every step recomputes the whole sequence (``forward`` with
    ``attention``). With ``attend`` (see ``CharTransformer.decode_step``), the prompt's keys
    and values are computed once and every step feeds one token through the KV cache.
    Returns ``[B, T0 + steps]``.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    model.eval()
    sequence = prompt
    if attend is None:
        for _ in range(steps):
            logits = model(sequence, attention=attention)[:, -1]
            sequence = torch.cat([sequence, logits.argmax(-1, keepdim=True)], dim=1)
        return sequence
    logits, caches = model(prompt, attention=attention, return_kv=True)
    logits = logits[:, -1]
    for step in range(steps):
        token = logits.argmax(-1)
        sequence = torch.cat([sequence, token[:, None]], dim=1)
        if step + 1 < steps:
            logits, caches = model.decode_step(token, sequence.shape[1] - 1, caches, attend)
    return sequence


def lm_batch(text: torch.Tensor, batch_size: int, context: int,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of ``text``: inputs ``[B, context]`` and next-character targets."""
    starts = torch.randint(0, len(text) - context - 1, (batch_size,), generator=generator)
    rows = starts[:, None] + torch.arange(context + 1)
    windows = text[rows]
    return windows[:, :-1], windows[:, 1:]


def eval_windows(text: torch.Tensor, context: int, max_windows: int | None = None
                 ) -> torch.Tensor:
    """Non-overlapping windows of ``context + 1`` characters of ``text``, ``[N, context + 1]``.

    All of them, or ``max_windows`` of them spread evenly over the whole text (so a subset
    samples every file of a split, not just the first one).
    """
    n = (len(text) - 1) // context
    if n < 1:
        raise ValueError(f"text of {len(text)} characters holds no window of {context + 1}")
    chosen = torch.arange(n)
    if max_windows is not None and max_windows < n:
        if max_windows < 1:
            raise ValueError(f"max_windows must be >= 1, got {max_windows}")
        chosen = torch.linspace(0, n - 1, max_windows).round().long()
    rows = chosen[:, None] * context + torch.arange(context + 1)
    return text[rows]


@torch.no_grad()
def bits_per_char(model: nn.Module, windows: torch.Tensor, batch_size: int = 64) -> float:
    """Mean cross-entropy in bits of predicting each next character of ``windows``
    (``[N, context + 1]``, from ``eval_windows``). Perplexity is ``2 ** bits_per_char``."""
    model.eval()
    total, count = 0.0, 0
    for chunk in windows.split(batch_size):
        logits = model(chunk[:, :-1])
        total += nn.functional.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(),
                                             reduction="sum").item()
        count += chunk[:, 1:].numel()
    return total / count / math.log(2)


def unigram_bits_per_char(train: torch.Tensor, test: torch.Tensor, vocab_size: int) -> float:
    """Bits per character on ``test`` of the character frequencies of ``train`` (add-one
    smoothed): the baseline a language model must beat."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1
    log_p = torch.log2(counts / counts.sum())
    return -log_p[test].mean().item()


def train_char_lm(model: CharTransformer, text: torch.Tensor, steps: int,
                  batch_size: int = 32, lr: float = 3e-3, weight_decay: float = 0.1,
                  seed: int = 0, desc: str = "train LM") -> list[float]:
    """Train ``model`` in place for ``steps`` AdamW steps on random windows of ``text``.

    The learning rate follows a one-cycle schedule (10% warm-up then cosine decay to ~0), so a
    fixed step budget ends at a converged point. A step budget, not a time budget, keeps the
    result the same on every machine. Returns the training loss of every step.
    """
    from tqdm.auto import tqdm

    from .training import progress_enabled, set_seed

    if steps < 20:  # the one-cycle schedule needs room for its warm-up
        raise ValueError(f"steps must be >= 20, got {steps}")
    set_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2 or "embed" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=lr,
                                  betas=(0.9, 0.95))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps,
                                                   pct_start=0.1)
    losses = []
    model.train()
    bar = tqdm(range(steps), desc=desc, disable=not progress_enabled(), leave=False)
    for _ in bar:
        x, y = lm_batch(text, batch_size, model.context, generator)
        loss = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if len(losses) % 20 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    model.eval()
    return losses


def _lm_cache_key(text: torch.Tensor, settings: dict) -> str:
    import hashlib
    import inspect

    digest = hashlib.sha256()
    for obj in (sinusoidal_positions, Block, CharTransformer, lm_batch, train_char_lm):
        digest.update(inspect.getsource(obj).encode())
    digest.update(repr(sorted(settings.items())).encode())
    digest.update(torch.__version__.encode())
    digest.update(text.numpy().tobytes())
    return digest.hexdigest()[:20]


def cache_dir() -> Path:
    """Where trained weights are kept: ``$COMPRESS_COURSE_CACHE``, else
    ``$XDG_CACHE_HOME/compress_course``, else ``~/.cache/compress_course``."""
    import os

    if os.environ.get("COMPRESS_COURSE_CACHE"):
        return Path(os.environ["COMPRESS_COURSE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compress_course"


def trained_char_lm(text: torch.Tensor, vocab_size: int, steps: int, d_model: int = 128,
                    n_layers: int = 4, n_heads: int = 4, context: int = 128,
                    batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
                    use_cache: bool = True) -> tuple[CharTransformer, list[float], bool]:
    """A ``CharTransformer`` trained with ``train_char_lm`` on ``text``.

    With ``use_cache``, the trained weights and losses are stored in ``cache_dir()`` under a
    key made of the model and training code, the settings, torch's version and the training
    text, and loaded from there on the next run with the same key. Returns
    ``(model, losses, loaded_from_cache)``.
    """
    settings = dict(vocab_size=vocab_size, steps=steps, d_model=d_model, n_layers=n_layers,
                    n_heads=n_heads, context=context, batch_size=batch_size, lr=lr, seed=seed)
    torch.manual_seed(seed)
    model = CharTransformer(vocab_size, d_model, n_layers, n_heads, context)
    path = cache_dir() / f"char_lm_{_lm_cache_key(text, settings)}.pt"
    if use_cache and path.exists():
        try:
            saved = torch.load(path, weights_only=True)
            model.load_state_dict(saved["state"])
            model.eval()
            return model, list(saved["losses"]), True
        except Exception:  # a damaged cache file is retrained
            pass
    losses = train_char_lm(model, text, steps, batch_size=batch_size, lr=lr, seed=seed)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        torch.save({"state": model.state_dict(), "losses": torch.tensor(losses)}, partial)
        partial.replace(path)
    return model, losses, False
