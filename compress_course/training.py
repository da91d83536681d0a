"""Training, evaluation and fine-tuning loops.

Lessons never write a training loop inline: they call ``train`` (or ``fine_tune``) and
pass a ``step_hook`` when something must happen after every optimizer step, such as
re-applying pruning masks or clamping weights.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

StepHook = Callable[[nn.Module], None]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch so a run repeats exactly on the same machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def progress_enabled() -> bool:
    """Progress bars are on unless ``COMPRESS_COURSE_QUIET`` is set (CI sets it)."""
    return not os.environ.get("COMPRESS_COURSE_QUIET")


@dataclass
class History:
    """Per-epoch training loss and validation accuracy (when a val loader was given)."""

    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` on ``loader``, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = total = 0
    for x, y in loader:
        logits = model(x.to(device))
        correct += (logits.argmax(dim=1).cpu() == y).sum().item()
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("loader is empty: cannot compute an accuracy")
    return correct / total


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default loss: cross-entropy of ``model(x)`` against class indices ``y``."""
    return nn.functional.cross_entropy(model(x), y)


def train(model: nn.Module, train_loader: DataLoader, epochs: int, lr: float = 1e-3,
          val_loader: DataLoader | None = None, weight_decay: float = 0.0,
          step_hook: StepHook | None = None, loss_fn: LossFn = cross_entropy_loss,
          seed: int | None = 0, desc: str = "train") -> History:
    """Train ``model`` in place with Adam for ``epochs`` epochs.

    Args:
        model: any module mapping a batch ``x`` to logits.
        train_loader: yields ``(x, y)`` batches.
        epochs: passes over ``train_loader`` (0 trains nothing).
        lr, weight_decay: Adam's settings.
        val_loader: if given, validation accuracy is recorded after every epoch.
        step_hook: called as ``step_hook(model)`` right after every optimizer step, e.g.
            to re-apply pruning masks so pruned weights stay zero.
        loss_fn: ``loss_fn(model, x, y) -> scalar``; cross-entropy by default (the
            distillation lesson passes its own).
        seed: seeds torch and the loader's shuffling before training (``None`` leaves
            both alone).
        desc: label of the progress bar.

    Returns:
        ``History`` of per-epoch mean training loss and validation accuracy.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if seed is not None:
        set_seed(seed)
        # A shuffling DataLoader owns its generator: reseed it too, so two runs over the
        # same loader (say, two students being compared) see the same batches.
        generator = getattr(train_loader, "generator", None)
        if generator is not None:
            generator.manual_seed(seed)
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History()
    bar = tqdm(range(epochs), desc=desc, disable=not progress_enabled(), leave=False)
    for _ in bar:
        model.train()
        total_loss, batches = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, x.to(device), y.to(device))
            loss.backward()
            optimizer.step()
            if step_hook is not None:
                step_hook(model)
            total_loss += loss.item()
            batches += 1
        history.train_loss.append(total_loss / max(batches, 1))
        postfix = {"loss": f"{history.train_loss[-1]:.3f}"}
        if val_loader is not None:
            history.val_accuracy.append(evaluate(model, val_loader))
            postfix["val_acc"] = f"{history.val_accuracy[-1]:.3f}"
        bar.set_postfix(postfix)
    bar.close()
    model.eval()
    return history


def fine_tune(model: nn.Module, train_loader: DataLoader, epochs: int, lr: float = 3e-4,
              **kwargs) -> History:
    """``train`` with a smaller default learning rate, for recovering after compression."""
    kwargs.setdefault("desc", "fine-tune")
    return train(model, train_loader, epochs, lr=lr, **kwargs)
