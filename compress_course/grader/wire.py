"""How arguments and answers travel between the grading process and a sandbox.

Both directions carry tensors as their raw bytes, not through ``torch.save``: a grading run
makes over a thousand calls, and ``torch.save`` plus ``torch.load(weights_only=True)`` of a
few small tensors cost about a millisecond of CPU per call on each side.

- **Requests** (grader -> sandbox) are trusted: ordinary pickle, except that a plain CPU
  tensor or ``nn.Parameter`` is reduced to its storage's bytes, dtype, size, stride and
  offset (what the default pickling keeps, without its ``torch.save`` round trip).
- **Replies** (sandbox -> grader) are not trusted: a hostile submission may write any bytes
  to the pipe. ``encode`` writes a JSON skeleton (numbers, strings, lists, tuples, dicts,
  ``OrderedDict``, ``torch.Size``, dtypes) whose tensors point into raw byte blobs that
  follow it. ``decode`` builds nothing but those types and plain tensors, so no reply can
  name a callable. Anything else (an ``nn.Module``, a tensor subclass, a sparse tensor)
  makes ``encode`` raise ``NotPlain``; the sandbox then falls back to ``torch.save`` and
  ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import ctypes
import io
import json
import math
import pickle
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn

# Dtypes a tensor may travel as bytes in (others take the torch.save route).
DTYPES: dict[str, torch.dtype] = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64,
    torch.complex128, torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64,
    torch.bool)}
_DTYPE_NAMES = {d: name for name, d in DTYPES.items()}
_HEADER = 8  # bytes of the skeleton's length


class NotPlain(Exception):
    """A value ``encode`` cannot carry (the caller falls back to torch.save)."""


def _is_plain_tensor(value: Any) -> bool:
    return (type(value) in (torch.Tensor, nn.Parameter) and value.layout == torch.strided
            and value.device.type == "cpu" and value.dtype in _DTYPE_NAMES
            and not value.is_quantized and not value.is_nested and not value.is_neg()
            and not value.is_conj() and not value.__dict__)


def _storage_key(tensor: torch.Tensor) -> tuple:
    """Tensors with equal keys view one storage (and travel as one). Empty storages all
    start at address 0: each is its own."""
    storage = tensor.untyped_storage()
    if storage.nbytes() == 0:
        return ("empty", id(tensor))
    return (storage.data_ptr(), storage.nbytes())


def _storage_bytes(tensor: torch.Tensor) -> bytes:
    """A copy of the bytes of ``tensor``'s whole storage. (Read from its address: going
    through ``.numpy()`` would make the sender's storage non-resizable.)"""
    storage = tensor.untyped_storage()
    if storage.nbytes() == 0:
        return b""
    return ctypes.string_at(storage.data_ptr(), storage.nbytes())


def _storage(blob: bytes | memoryview) -> torch.UntypedStorage:
    """A fresh storage (writable, aligned, resizable) holding a copy of ``blob``."""
    if not len(blob):
        return torch.UntypedStorage(0)
    return torch.tensor(np.frombuffer(blob, dtype=np.uint8)).untyped_storage()


def _tensor(storage: torch.UntypedStorage, dtype: torch.dtype, size, stride, offset: int,
            requires_grad: bool, parameter: bool) -> torch.Tensor:
    """A tensor viewing ``storage``; refuses a view that reaches past the storage's end
    (``set_`` would grow the storage, exposing uninitialised memory)."""
    if len(size) != len(stride) or offset < 0 or any(n < 0 for n in (*size, *stride)):
        raise ValueError("a tensor's size, stride and offset must be non-negative and match")
    if all(size):
        last = offset + sum((n - 1) * step for n, step in zip(size, stride, strict=True))
        if (last + 1) * dtype.itemsize > storage.nbytes():
            raise ValueError("a tensor reaches past the end of its bytes")
    tensor = torch.empty(0, dtype=dtype).set_(storage, offset, size, stride)
    if parameter:
        return nn.Parameter(tensor, requires_grad=requires_grad)
    return tensor.requires_grad_(True) if requires_grad else tensor


# ------------------------------------------------------------------ requests (trusted)


def _rebuild(storage: torch.UntypedStorage, dtype: str, size: tuple, stride: tuple,
             offset: int, requires_grad: bool, parameter: bool) -> torch.Tensor:
    return _tensor(storage, DTYPES[dtype], size, stride, offset, requires_grad, parameter)


class _Bytes:
    """One storage's bytes in a request; pickled once however many tensors view it (pickle's
    memo), so that they share one storage in the sandbox as they did here."""

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return _storage, (self.data,)


class _RequestPickler(pickle.Pickler):
    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._storages: dict[tuple, _Bytes] = {}

    def reducer_override(self, obj):
        if not isinstance(obj, torch.Tensor) or not _is_plain_tensor(obj) or \
                (obj.requires_grad and not obj.is_leaf):
            return NotImplemented  # pickle's own reduction (and its errors)
        key = _storage_key(obj)
        if key not in self._storages:
            self._storages[key] = _Bytes(_storage_bytes(obj))
        return _rebuild, (self._storages[key], _DTYPE_NAMES[obj.dtype], tuple(obj.shape),
                          obj.stride(), obj.storage_offset(), obj.requires_grad,
                          type(obj) is nn.Parameter)


def dumps_request(request: Any) -> bytes:
    buffer = io.BytesIO()
    _RequestPickler(buffer).dump(request)
    return buffer.getvalue()


loads_request = pickle.loads


# ------------------------------------------------------------------ replies (untrusted)


def encode(value: Any) -> bytes:
    """``value`` as a JSON skeleton plus tensor bytes; raises ``NotPlain`` for other types."""
    blobs: list[bytes] = []
    storages: dict[tuple, int] = {}

    def skeleton(v: Any) -> Any:
        kind = type(v)
        if v is None or kind in (bool, int, str):
            return v
        if kind is float:
            return v if math.isfinite(v) else {"f": repr(v)}
        if kind is list:
            return [skeleton(x) for x in v]
        if kind is tuple:
            return {"t": [skeleton(x) for x in v]}
        if kind is torch.Size:
            return {"S": list(v)}
        if kind is dict:
            if all(type(k) is str for k in v):
                return {"d": {k: skeleton(x) for k, x in v.items()}}
            return {"m": [[skeleton(k), skeleton(x)] for k, x in v.items()]}
        if kind is OrderedDict:
            meta = getattr(v, "_metadata", None)
            return {"o": [[skeleton(k), skeleton(x)] for k, x in v.items()],
                    "meta": None if meta is None else skeleton(meta)}
        if kind is torch.dtype and v in _DTYPE_NAMES:
            return {"y": _DTYPE_NAMES[v]}
        if isinstance(v, torch.Tensor) and _is_plain_tensor(v):
            key = _storage_key(v)
            if key not in storages:
                storages[key] = len(blobs)
                blobs.append(_storage_bytes(v))
            return {"T": [storages[key], _DTYPE_NAMES[v.dtype], list(v.shape), list(v.stride()),
                          v.storage_offset(), v.requires_grad, type(v) is nn.Parameter]}
        raise NotPlain(kind.__name__)

    try:
        head = json.dumps([skeleton(value), [len(b) for b in blobs]], allow_nan=False).encode()
    except (RecursionError, ValueError) as error:
        raise NotPlain(str(error)) from None
    return b"".join([len(head).to_bytes(_HEADER, "little"), head, *blobs])


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {value!r:.40}")
    return value


def decode(data: bytes | memoryview) -> Any:
    """The value ``encode`` wrote. Malformed data raises ``ValueError`` (or another
    ``Exception``); nothing but plain data and tensors is ever built."""
    data = memoryview(data)
    size = int.from_bytes(data[:_HEADER], "little")
    if size > len(data) - _HEADER:
        raise ValueError("truncated reply")
    tree, lengths = json.loads(bytes(data[_HEADER:_HEADER + size]))
    if type(lengths) is not list or sum(_int(n) for n in lengths) != len(data) - _HEADER - size \
            or any(n < 0 for n in lengths):
        raise ValueError("reply blobs do not add up")
    starts, position = [], _HEADER + size
    for n in lengths:
        starts.append(position)
        position += n
    storages: dict[int, torch.UntypedStorage] = {}

    def build(v: Any) -> Any:
        if type(v) is list:
            return [build(x) for x in v]
        if type(v) is not dict:
            return v
        if len(v) == 2 and "o" in v and "meta" in v:
            result = OrderedDict((build(k), build(x)) for k, x in v["o"])
            if v["meta"] is not None:
                result._metadata = build(v["meta"])
            return result
        (tag, inner), = v.items()
        if tag == "f":
            return float(inner)
        if tag == "t":
            return tuple(build(x) for x in inner)
        if tag == "S":
            return torch.Size([_int(n) for n in inner])
        if tag == "d":
            return {k: build(x) for k, x in inner.items()}
        if tag == "m":
            return {build(k): build(x) for k, x in inner}
        if tag == "y":
            return DTYPES[inner]
        if tag == "T":
            index, dtype, shape, stride, offset, requires_grad, parameter = inner
            index = _int(index)
            if index not in storages:
                storages[index] = _storage(data[starts[index]:starts[index] + lengths[index]])
            return _tensor(storages[index], DTYPES[dtype], [_int(n) for n in shape],
                           [_int(n) for n in stride], _int(offset), requires_grad is True,
                           parameter is True)
        raise ValueError(f"unknown tag {tag!r:.20}")

    return build(tree)
