"""Offline datasets as seeded, normalised splits.

The default dataset is scikit-learn's ``load_digits``: 1,797 real handwritten digits of
8x8 pixels (values 0..16) in 10 classes. It ships inside scikit-learn, so nothing is
downloaded. Splits are stratified and seeded, so every lesson sees the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)


@dataclass
class Split:
    """Features ``x`` (float32) and labels ``y`` (int64) of one split."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, fraction: float, seed: int = 0) -> Split:
        """A stratified random ``fraction`` of this split (at least one example per class)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        generator = np.random.default_rng(seed)
        labels = self.y.numpy()
        keep = []
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            n = max(1, round(fraction * len(idx)))
            keep.extend(generator.choice(idx, size=n, replace=False))
        keep = torch.as_tensor(np.sort(np.array(keep)))
        return Split(self.x[keep], self.y[keep])


@dataclass
class Digits:
    """The three splits of the digits dataset (``train``, ``val``, ``test``)."""

    train: Split
    val: Split
    test: Split
    image: bool

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])


def load_digits(image: bool = False, seed: int = 0, val_fraction: float = 0.1,
                test_fraction: float = 0.2) -> Digits:
    """Load scikit-learn's digits as normalised tensors.

    Pixels are scaled to [0, 1] and then standardised with the *training* split's mean and
    standard deviation (one number each), so no statistic leaks from val/test.

    Args:
        image: ``False`` gives features of shape ``[N, 64]`` (for MLPs); ``True`` gives
            ``[N, 1, 8, 8]`` (for CNNs).
        seed: seed of the stratified split.
        val_fraction, test_fraction: fractions of all 1,797 examples.

    Returns:
        ``Digits`` with ``train`` (~70%), ``val`` (10%) and ``test`` (20%) splits.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be in (0, 1), got {value}")
    if val_fraction + test_fraction >= 1:
        raise ValueError("val_fraction + test_fraction must leave some training data")

    bunch = sklearn_digits()
    x = bunch.data.astype(np.float32) / 16.0
    y = bunch.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_fraction / (1 - test_fraction), stratify=y_rest,
        random_state=seed)
    mean, std = x_train.mean(), x_train.std()

    def to_split(features: np.ndarray, labels: np.ndarray) -> Split:
        t = torch.from_numpy((features - mean) / std)
        if image:
            t = t.reshape(-1, *IMAGE_SHAPE)
        return Split(t.contiguous(), torch.from_numpy(labels))

    return Digits(to_split(x_train, y_train), to_split(x_val, y_val),
                  to_split(x_test, y_test), image)


def make_loader(split: Split, batch_size: int = 64, shuffle: bool = False,
                seed: int = 0) -> DataLoader:
    """A DataLoader over ``split``; shuffling is seeded so runs repeat exactly."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(TensorDataset(split.x, split.y), batch_size=batch_size,
                      shuffle=shuffle, generator=generator)


def digits_loaders(image: bool = False, batch_size: int = 64, seed: int = 0,
                   train_fraction: float = 1.0):
    """``(train_loader, val_loader, test_loader)`` over the digits splits.

    ``train_fraction < 1`` keeps a stratified subset of the training split (the data-poor
    regime of the distillation lesson); val and test are always whole.
    """
    digits = load_digits(image=image, seed=seed)
    train = digits.train if train_fraction == 1.0 else digits.train.subset(train_fraction, seed)
    return (make_loader(train, batch_size, shuffle=True, seed=seed),
            make_loader(digits.val, 512),
            make_loader(digits.test, 512))


# --- Lesson 07: a character-level corpus made of the Python standard library's source ------

#: The stdlib modules whose source makes the corpus, sorted. Each is found with
#: ``importlib.util.find_spec`` (a package contributes its ``__init__.py``) and read as text;
#: none is imported. A module missing from some Python version is skipped (``Corpus.files``
#: says which were used), so the corpus is fixed for a given Python version.
STDLIB_MODULES = (
    "_collections_abc", "_pydecimal", "_pyio", "_strptime", "argparse", "ast", "base64",
    "bdb", "calendar", "codecs", "compileall", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "difflib", "dis", "doctest", "enum", "fractions", "ftplib",
    "functools", "gettext", "glob", "gzip", "heapq", "imaplib", "inspect", "ipaddress",
    "locale", "mailbox", "mimetypes", "modulefinder", "ntpath", "numbers", "operator",
    "optparse", "os", "pathlib", "pdb", "pickle", "pickletools", "pkgutil", "platform",
    "plistlib", "poplib", "posixpath", "pprint", "profile", "pstats", "pydoc", "queue",
    "random", "sched", "selectors", "shlex", "shutil", "signal", "site", "smtplib", "socket",
    "socketserver", "ssl", "statistics", "string", "subprocess", "sysconfig", "tarfile",
    "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace", "traceback", "turtle",
    "typing", "uuid", "warnings", "wave", "weakref", "webbrowser", "zipfile", "zipimport",
)

#: The character vocabulary: tab, newline and the 95 printable ASCII characters; every
#: other character (rare in the stdlib: accented names, symbols) maps to one extra index.
CHARS = "\t\n" + "".join(chr(c) for c in range(32, 127))
VOCAB_SIZE = len(CHARS) + 1  # 98: index 97 stands for "any other character"


@dataclass
class Corpus:
    """The stdlib corpus, split by file, as int64 character indices.

    ``train``, ``val``, ``test``: 1-D tensors of indices in ``[0, VOCAB_SIZE)``, the files of
    each split joined in order. ``files`` maps each split to its module names.
    ``python_version`` is the version whose stdlib was read (the corpus depends on it).
    """

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    files: dict[str, list[str]]
    python_version: str
    vocab_size: int = VOCAB_SIZE

    def __repr__(self) -> str:
        return (f"Corpus(Python {self.python_version}, vocab {self.vocab_size}, characters: "
                f"train {len(self.train):,} ({len(self.files['train'])} files), val "
                f"{len(self.val):,} ({len(self.files['val'])}), test {len(self.test):,} "
                f"({len(self.files['test'])}))")


def encode_text(text: str) -> torch.Tensor:
    """Characters -> int64 indices into ``CHARS`` (``VOCAB_SIZE - 1`` for any other)."""
    table = np.full(0x110000, VOCAB_SIZE - 1, dtype=np.int64)
    table[[ord(c) for c in CHARS]] = np.arange(len(CHARS))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return torch.from_numpy(table[codes])


def decode_text(indices) -> str:
    """Indices -> text; the "other character" index becomes ``\\ufffd``."""
    return "".join(CHARS[i] if i < len(CHARS) else "\ufffd" for i in
                   (int(j) for j in indices))


def load_stdlib_corpus(modules=STDLIB_MODULES) -> Corpus:
    """Read the source of ``modules`` from this Python's standard library, split by file.

    Files are taken in sorted order; file number ``i`` goes to validation when
    ``i % 10 == 4``, to test when ``i % 10 == 9``, else to training, so no file is split
    across two sets. Nothing is downloaded or imported.
    """
    import importlib.util
    import platform

    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    texts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    found = []
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        found.append((name, spec.origin))
    if not found:
        raise ValueError("modules: none of them has Python source in this standard library")
    for i, (name, origin) in enumerate(found):
        split = "val" if i % 10 == 4 else "test" if i % 10 == 9 else "train"
        with open(origin, encoding="utf-8", errors="replace") as handle:
            texts[split].append(handle.read())
        splits[split].append(name)
    joined = {k: encode_text("\n".join(v)) for k, v in texts.items()}
    return Corpus(joined["train"], joined["val"], joined["test"], splits,
                  platform.python_version())
