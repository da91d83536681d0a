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

from collections.abc import Sequence

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
