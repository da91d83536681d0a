"""How values travel between the grading process and a sandbox (``compress_course.grader.wire``).

- Round trips: requests (``wire.dumps_request`` / ``wire.loads_request``) and replies
  (``sandbox.safe_dumps`` / ``sandbox.safe_loads``) keep a value's exact types, dtypes,
  shapes, strides, storage offsets, values, ``requires_grad`` and shared storages; plain
  data and tensors take the raw-bytes route (``b"B"``), layers the ``torch.save`` one (``b"T"``).
- Hostile replies: malformed bytes raise an ``Exception`` quickly and never decode to
  anything but plain data and tensors; a pickle that would call a function is refused
  without running it.
- End to end: a learner's function runs in a real sandbox; an answer that would run code in
  the grader is refused with a ``SubmissionError``, tensor views and parameters arrive intact.
"""

import io
import json
import math
import os
import pickle
import time
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from compress_course.grader import wire
from compress_course.grader.notebook import SubmissionError
from compress_course.grader.sandbox import RemoteNotebook, safe_dumps, safe_loads

# ------------------------------------------------------------------ helpers


def reply_trip(value):
    """``value`` as the grader gets it back from a sandbox, checking it took the bytes route."""
    data = safe_dumps(value)
    assert data[:1] == b"B", f"a {type(value).__name__} reply took the {data[:1]!r} route, not b'B'."
    return safe_loads(data)


def request_trip(value):
    """``value`` as a sandbox gets it from the grader."""
    return wire.loads_request(wire.dumps_request(value))


TRIPS = {"reply": reply_trip, "request": request_trip}
trips = pytest.mark.parametrize("trip", list(TRIPS.values()), ids=list(TRIPS))


def storage_bytes(tensor: torch.Tensor) -> torch.Tensor:
    return torch.empty(0, dtype=torch.uint8).set_(tensor.untyped_storage())


def assert_same_tensor(got, expected, what="tensor"):
    """Same class, dtype, shape, stride, offset, storage, requires_grad and values."""
    assert type(got) is type(expected), f"{what}: a {type(got).__name__}, expected a {type(expected).__name__}."
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, expected {expected.dtype}."
    assert got.shape == expected.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}."
    assert got.stride() == expected.stride(), f"{what}: stride {got.stride()}, expected {expected.stride()}."
    assert got.storage_offset() == expected.storage_offset(), \
        f"{what}: storage offset {got.storage_offset()}, expected {expected.storage_offset()}."
    assert got.untyped_storage().nbytes() == expected.untyped_storage().nbytes(), \
        f"{what}: a storage of {got.untyped_storage().nbytes()} bytes, expected {expected.untyped_storage().nbytes()}."
    assert got.requires_grad == expected.requires_grad, \
        f"{what}: requires_grad {got.requires_grad}, expected {expected.requires_grad}."
    # Bit for bit, the whole storage (NaNs, -0.0 and the bytes outside the view included).
    assert torch.equal(storage_bytes(got), storage_bytes(expected)), \
        f"{what}: values differ: {got.detach()!r:.120} arrived, {expected.detach()!r:.120} was sent."


def assert_same(got, expected, where="value"):
    """Deep equality that also demands the exact same types all the way down."""
    assert type(got) is type(expected), \
        f"{where}: a {type(got).__name__}, expected a {type(expected).__name__}."
    if isinstance(expected, torch.Tensor):
        assert_same_tensor(got, expected, where)
    elif isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)}, expected {list(expected)}."
        for (key, value), got_key in zip(expected.items(), got, strict=True):
            assert_same(got_key, key, f"{where} key {key!r}")
            assert_same(got[key], value, f"{where}[{key!r}]")
        assert_same(getattr(got, "_metadata", None), getattr(expected, "_metadata", None),
                    f"{where}._metadata")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{where}: {len(got)} items, expected {len(expected)}."
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), f"{where}: {got!r}, expected nan."
    elif isinstance(expected, float):
        assert got == expected and math.copysign(1, got) == math.copysign(1, expected), \
            f"{where}: {got!r}, expected {expected!r}."
    else:
        assert got == expected, f"{where}: {got!r}, expected {expected!r}."


PLAIN = (type(None), bool, int, float, str, list, tuple, dict, OrderedDict, torch.Size,
         torch.dtype, torch.Tensor, nn.Parameter)


def assert_only_plain(value, where="reply"):
    """A decoded reply holds nothing but plain data and plain tensors."""
    assert type(value) in PLAIN, f"{where} decoded to a {type(value).__name__}."
    if isinstance(value, dict):
        for key, item in value.items():
            assert_only_plain(key, f"{where} key")
            assert_only_plain(item, f"{where}[{key!r}]")
        if hasattr(value, "_metadata"):
            assert_only_plain(value._metadata, f"{where}._metadata")
    elif isinstance(value, (list, tuple)) and type(value) is not torch.Size:
        for i, item in enumerate(value):
            assert_only_plain(item, f"{where}[{i}]")


def frame(tree, blobs=(), lengths=None) -> bytes:
    """A ``b"B"`` reply written by hand: header, JSON skeleton, blobs (lengths may lie)."""
    lengths = [len(b) for b in blobs] if lengths is None else lengths
    head = json.dumps([tree, lengths]).encode()
    return b"B" + len(head).to_bytes(8, "little") + head + b"".join(blobs)


def tensor_node(index=0, dtype="float32", shape=(2,), stride=(1,), offset=0, requires_grad=False,
                parameter=False) -> dict:
    return {"T": [index, dtype, list(shape), list(stride), offset, requires_grad, parameter]}


# ------------------------------------------------------------------ round trips

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64,
          torch.complex128, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8,
          torch.bool]


@trips
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_keeps_its_values(trip, dtype):
    values = torch.arange(-2, 4).reshape(2, 3).to(dtype)
    if dtype.is_floating_point or dtype.is_complex:
        values[0, 0], values[0, 1], values[0, 2] = math.nan, math.inf, -math.inf
    assert_same(trip(values), values, f"a {dtype} tensor")


def layouts() -> dict:
    base = torch.arange(24.0).reshape(4, 6)
    return {"transposed": base.t(), "column slice": base[:, 2], "row slice": base[1:3],
            "0-dim": torch.tensor(3.5), "empty": torch.empty(0, 3),
            "expanded (stride 0)": torch.arange(3.0).reshape(3, 1).expand(3, 5),
            "strided": base[::2, 1::3]}


@trips
@pytest.mark.parametrize("name", list(layouts()))
def test_layouts_keep_stride_and_offset(trip, name):
    view = layouts()[name]
    assert_same(trip(view), view, name)


@trips
def test_parameters_stay_parameters(trip):
    trainable = nn.Parameter(torch.randn(3, 2))
    frozen = nn.Parameter(torch.randn(2), requires_grad=False)
    leaf = torch.randn(4, requires_grad=True)
    got = trip([trainable, frozen, leaf])
    assert_same(got, [trainable, frozen, leaf], "[trainable, frozen, leaf]")
    assert type(got[2]) is torch.Tensor and got[2].is_leaf, "a leaf tensor became a Parameter or a non-leaf."


@trips
def test_a_loss_arrives_as_a_leaf_that_requires_grad(trip):
    weight = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = (weight * 3).sum()
    got = trip(loss)
    saved = io.BytesIO()
    torch.save(loss, saved)
    saved.seek(0)
    reference = torch.load(saved, weights_only=True)
    assert (got.is_leaf, got.requires_grad, got.grad_fn) == (True, True, None), \
        f"a loss arrived with is_leaf={got.is_leaf}, requires_grad={got.requires_grad}, grad_fn={got.grad_fn}."
    assert (reference.is_leaf, reference.requires_grad) == (got.is_leaf, got.requires_grad), \
        "torch.save keeps a different requires_grad/is_leaf than the wire."
    assert got.item() == 9.0, f"the loss arrived as {got.item()}, expected 9.0."


@trips
def test_containers_and_scalars_keep_their_types(trip):
    value = {"tuple": (1, 2.5, "three", None, True), "list": [1, [2, (3,)]],
             "ints": {1: "one", -2: (2,), 0: [0]}, "mixed keys": {1: "a", "b": 2},
             "tuple keys": {(1, 2): 3}, "floats": [math.nan, math.inf, -math.inf, -0.0, 1e-310],
             "bool is not int": [True, 1, False, 0], "size": torch.Size([2, 3]),
             "dtypes": [torch.float16, torch.bfloat16, torch.int64, torch.bool],
             "ordered": OrderedDict([("b", 1), ("a", torch.ones(2))]), "empty": ([], (), {})}
    assert_same(trip(value), value)


@trips
def test_a_state_dict_keeps_its_order_and_metadata(trip):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    state = model.state_dict()
    got = trip(state)
    assert type(got) is OrderedDict, f"a state_dict arrived as a {type(got).__name__}."
    assert type(got._metadata) is OrderedDict and got._metadata == state._metadata, \
        f"its _metadata arrived as {getattr(got, '_metadata', None)!r}; expected {state._metadata!r}."
    assert_same(got, state, "state_dict")
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    fresh.load_state_dict(got)
    assert torch.equal(fresh[2].weight, model[2].weight), "load_state_dict of the arrival changed the weights."


@trips
def test_views_of_one_storage_still_share_it(trip):
    base = torch.arange(12.0).reshape(3, 4)
    got_base, got_t, got_column, other = trip((base, base.t(), base[:, 1], torch.arange(12.0)))
    pointers = {got.untyped_storage().data_ptr() for got in (got_base, got_t, got_column)}
    assert len(pointers) == 1, f"three views of one storage arrived in {len(pointers)} storages."
    assert other.untyped_storage().data_ptr() not in pointers, \
        "a tensor with its own storage arrived sharing another tensor's."
    got_base[2, 1] = -7.0
    assert got_t[1, 2].item() == -7.0 and got_column[2].item() == -7.0, \
        "a write through one view did not show through the others after the trip."
    assert other[9].item() == 9.0, "a write to one tensor changed a tensor with its own storage."


@trips
def test_distinct_empty_tensors_stay_distinct(trip):
    first, second = trip((torch.empty(0), torch.empty(0)))
    first.resize_(2).fill_(1.0)
    second.resize_(2).fill_(2.0)
    assert first.tolist() == [1.0, 1.0], f"filling the second empty tensor changed the first: {first.tolist()}."


def test_an_argument_can_grow_in_place_like_the_callers():
    grown = torch.zeros(2).resize_(5)
    arrived = request_trip(torch.zeros(2))
    arrived.resize_(5)
    assert arrived.shape == grown.shape, f"resize_ gave {tuple(arrived.shape)}, expected {tuple(grown.shape)}."


def test_requests_carry_tensors_as_raw_bytes():
    data = wire.dumps_request((torch.arange(4.0), nn.Parameter(torch.ones(2))))
    assert b"compress_course.grader.wire" in data and b"_rebuild_tensor" not in data, \
        "a plain tensor in a request went through torch's own pickling instead of wire._rebuild."


@pytest.mark.parametrize("make", [lambda: nn.Linear(3, 2),
                                  lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(),
                                                        nn.Flatten(), nn.Linear(8, 1))],
                         ids=["Linear", "Sequential"])
def test_layers_take_the_torch_save_route(make):
    torch.manual_seed(0)
    layer = make()
    data = safe_dumps(layer)
    assert data[:1] == b"T", f"a {type(layer).__name__} reply took the {data[:1]!r} route, not b'T'."
    got = safe_loads(data)
    assert type(got) is type(layer), f"a {type(layer).__name__} came back as a {type(got).__name__}."
    assert [type(m) for m in got.modules()] == [type(m) for m in layer.modules()], \
        "the layer's submodules came back different."
    assert_same(got.state_dict(), layer.state_dict(), f"{type(layer).__name__}.state_dict()")
    for name, parameter in got.named_parameters():
        assert type(parameter) is nn.Parameter, f"{name} came back as a {type(parameter).__name__}."
    sent = request_trip(layer)
    assert type(sent) is type(layer), f"a {type(layer).__name__} request arrived as a {type(sent).__name__}."
    assert_same(sent.state_dict(), layer.state_dict(), f"requested {type(layer).__name__}.state_dict()")


def test_a_sparse_tensor_takes_the_torch_save_route():
    sparse = torch.eye(3).to_sparse()
    data = safe_dumps(sparse)
    assert data[:1] == b"T", f"a sparse tensor took the {data[:1]!r} route, not b'T'."
    got = safe_loads(data)
    assert got.layout == torch.sparse_coo and torch.equal(got.to_dense(), torch.eye(3)), \
        "a sparse identity came back different."


# ------------------------------------------------------------------ hostile replies


def valid_reply() -> bytes:
    base = torch.arange(6.0).reshape(2, 3)
    return safe_dumps(("ok", {"a": base.t(), 1: [base[:, 1], (2.5, math.nan)]},
                       OrderedDict(x=torch.Size([2])), torch.int8))


def hostile_replies() -> dict:
    valid = valid_reply()
    skeleton_end = 9 + int.from_bytes(valid[1:9], "little")
    blob = b"\0" * 8
    nested = 100_000
    return {
        "empty": b"",
        "only the prefix": b"B",
        "unknown prefix": b"J" + valid[1:],
        "truncated header": valid[:5],
        "truncated skeleton": valid[:skeleton_end - 3],
        "truncated blob": valid[:-1],
        "one byte too many": valid + b"\0",
        "header longer than the data": b"B" + (2**40).to_bytes(8, "little") + valid[9:],
        "header of all ones": b"B" + b"\xff" * 8 + valid[9:],
        "skeleton not JSON": b"B" + (4).to_bytes(8, "little") + b"\x80\x81\x82\x83",
        "skeleton not a pair": b"B" + (3).to_bytes(8, "little") + b"[1]",
        "blob lengths too small": frame(tensor_node(), [blob], lengths=[4]),
        "blob lengths too large": frame(tensor_node(), [blob], lengths=[12]),
        "negative blob length": frame(tensor_node(), [blob], lengths=[-4, 12]),
        "fractional blob length": frame(tensor_node(), [blob], lengths=[8.0]),
        "blob lengths not a list": frame(tensor_node(), [blob], lengths={"0": 8}),
        "unknown tag": frame({"X": 1}),
        "two tags": frame({"t": [], "d": {}}),
        "no tag": frame({}),
        "shape past the blob": frame(tensor_node(shape=[3]), [blob]),
        "huge shape on an empty blob": frame(tensor_node(shape=[2**30]), [b""]),
        "offset past the blob": frame(tensor_node(offset=1), [blob]),
        "stride past the blob": frame(tensor_node(stride=[2]), [blob]),
        "element wider than the blob": frame(tensor_node(shape=[1]), [b"\1"]),
        "negative offset": frame(tensor_node(shape=[1], offset=-1), [blob]),
        "negative shape": frame(tensor_node(shape=[-1]), [blob]),
        "negative stride": frame(tensor_node(stride=[-1], offset=1), [blob]),
        "overflowing shape": frame(tensor_node(shape=[2**62, 2**62], stride=[1, 1]), [blob]),
        "shape past int64": frame(tensor_node(shape=[2**64]), [blob]),
        "overflowing offset": frame(tensor_node(shape=[1], offset=2**62), [blob]),
        "fractional shape": frame(tensor_node(shape=[1.5]), [blob]),
        "string shape": frame(tensor_node(shape=["2"]), [blob]),
        "boolean shape": frame(tensor_node(shape=[True]), [blob]),
        "shape not a list": frame({"T": [0, "float32", 2, [1], 0, False, False]}, [blob]),
        "fractional stride": frame(tensor_node(stride=[1.0]), [blob]),
        "fractional offset": frame(tensor_node(offset=0.0), [blob]),
        "shape and stride of different lengths": frame(tensor_node(shape=[1, 1], stride=[1]), [blob]),
        "unknown dtype": frame(tensor_node(dtype="float128"), [blob]),
        "dtype naming an attribute": frame(tensor_node(dtype="__class__"), [blob]),
        "missing blob": frame(tensor_node(index=1), [blob]),
        "fractional blob index": frame(tensor_node(index=0.0), [blob]),
        "integer tensor requiring grad": frame(tensor_node(dtype="int32", requires_grad=True), [blob]),
        "tensor with six fields": frame({"T": [0, "float32", [2], [1], 0, False]}, [blob]),
        "unknown dtype value": frame({"y": "object"}),
        "fractional torch.Size": frame({"S": [1.5]}),
        "float from a list": frame({"f": [1]}),
        "float from a non-number": frame({"f": "os.system"}),
        "unhashable key": frame({"m": [[[1], 2]]}),
        "OrderedDict item not a pair": frame({"o": [[1]], "meta": None}),
        "dict tag holding a list": frame({"d": [1, 2]}),
        "100000 nested lists": b"B" + frame_raw("[" * nested + "]" * nested),
        "100000 nested tuples": b"B" + frame_raw('{"t": [' * nested + "]}" * nested),
        "a million-digit integer": b"B" + frame_raw("1" * 1_000_000),
        "empty blob behind a tensor": frame(tensor_node(shape=[3]), [b""]),
    }


def frame_raw(skeleton: str) -> bytes:
    head = f"[{skeleton}, []]".encode()
    return len(head).to_bytes(8, "little") + head


HOSTILE = hostile_replies()


@pytest.mark.parametrize("name", HOSTILE)
def test_a_malformed_reply_is_refused(name):
    started = time.perf_counter()
    try:
        got = safe_loads(HOSTILE[name])
    except Exception:  # noqa: BLE001 - any Exception is a refusal
        pass
    else:
        pytest.fail(f"the reply {name!r} decoded to a {type(got).__name__}: {got!r:.200}")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"refusing the reply {name!r} took {elapsed:.2f} s."


def test_the_valid_reply_decodes():
    """The one the malformed replies are cut from, so that their refusals mean something."""
    status, mapping, ordered, dtype = safe_loads(valid_reply())
    assert (status, ordered, dtype) == ("ok", OrderedDict(x=torch.Size([2])), torch.int8)
    assert mapping["a"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert mapping[1][0].tolist() == [1.0, 4.0] and mapping[1][1][0] == 2.5


def test_a_corrupted_reply_never_decodes_to_anything_but_plain_data():
    valid = valid_reply()
    decoded = refused = 0
    for position in range(len(valid)):
        for byte in (0x00, 0x22, 0x2D, 0x39, 0x5B, 0x7B, 0xFF):
            if valid[position] == byte:
                continue
            corrupted = valid[:position] + bytes([byte]) + valid[position + 1:]
            try:
                got = safe_loads(corrupted)
            except Exception:  # noqa: BLE001 - a refusal is a good answer
                refused += 1
                continue
            decoded += 1
            assert_only_plain(got, f"the reply with byte {position} set to {byte:#x}")
    assert refused > 0 and decoded > 0, f"{refused} corruptions refused, {decoded} decoded."


def write_marker(path: str) -> str:
    """What a hostile pickle calls: leaves this process's pid in ``path``."""
    Path(path).write_text(str(os.getpid()))
    return "ran"


class Payload:
    """Unpickling it calls ``function(*args)``."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def torch_saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


PICKLERS = {"torch.save": torch_saved, "plain pickle": lambda value: pickle.dumps(value, protocol=2)}


@pytest.mark.parametrize("pickler", list(PICKLERS.values()), ids=list(PICKLERS))
def test_a_pickle_that_calls_a_function_is_refused_unrun(tmp_path, pickler):
    marker = tmp_path / "marker"
    data = pickler([torch.ones(2), Payload(write_marker, str(marker))])
    with pytest.raises(pickle.UnpicklingError, match="write_marker|Unsupported global"):
        safe_loads(b"T" + data)
    assert not marker.exists(), f"the refused reply still ran write_marker (pid {marker.read_text()})."

    # The same bytes, unpickled without the weights-only guard, do run it.
    control = tmp_path / "control"
    live = pickler([torch.ones(2), Payload(write_marker, str(control))])
    try:
        torch.load(io.BytesIO(live), weights_only=False)
    except RuntimeError:  # a plain pickle is not a checkpoint: refused, but only once unpickled
        pass
    assert control.read_text() == str(os.getpid()), "the payload is not live: this test proves nothing."


@pytest.mark.parametrize("pickler", list(PICKLERS.values()), ids=list(PICKLERS))
def test_a_pickle_that_calls_os_system_is_refused_unrun(tmp_path, pickler):
    marker = tmp_path / "marker"
    data = pickler(Payload(os.system, f"touch {marker}"))
    with pytest.raises(pickle.UnpicklingError, match="system|Unsupported global"):
        safe_loads(b"T" + data)
    assert not marker.exists(), "the refused reply still ran os.system."


# ------------------------------------------------------------------ end to end, in a sandbox

SETUP = "import os\nimport torch\n"
EVIL = '''class Evil:
    """Unpickling it runs CODE, which appends the unpickling process's pid to a marker."""

    def __reduce__(self):
        return exec, (CODE,)


def evil():
    return Evil()
'''
VIEWS = '''def views(x):
    base = torch.arange(12.0).reshape(3, 4)
    return base, base.t(), base[:, 1], torch.nn.Parameter(torch.ones(2)), x, x.t()
'''


def code_cell(source: str, tags=()) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": list(tags)},
            "outputs": [], "source": source}


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("grader") / "marker"


@pytest.fixture(scope="module")
def nb(tmp_path_factory, marker):
    code = f"import os\nwith open({str(marker)!r}, 'a') as f:\n    f.write(f'{{os.getpid()}} ')\n"
    notebook = {"cells": [code_cell(SETUP, ["setup"]),
                          code_cell(EVIL.replace("CODE", repr(code)), ["exercise"]),
                          code_cell(VIEWS, ["exercise"])],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                            "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    folder = tmp_path_factory.mktemp("submission")
    (folder / "00_wire.ipynb").write_text(json.dumps(notebook))
    remote = RemoteNotebook(folder, "00_wire.ipynb", call_timeout=30, cell_timeout=30)
    yield remote
    remote.close()


def test_a_reply_that_would_run_code_in_the_grader_is_refused(nb, marker):
    with pytest.raises(SubmissionError, match="does not accept") as refused:
        nb.evil()
    assert "running evil" in str(refused.value), f"the refusal does not name the call: {refused.value}"
    written = marker.read_text().split() if marker.exists() else []
    assert str(os.getpid()) not in written, \
        f"the grader (pid {os.getpid()}) ran the reply's payload; the marker holds {written}."
    assert written == [], f"a process (pids {written}) ran the reply's payload."


def test_views_and_parameters_come_back_from_a_sandbox(nb):
    x = torch.arange(12.0).reshape(3, 4)[:, 1:]
    base, transposed, column, parameter, same_x, x_t = nb.views(x)
    expected_base = torch.arange(12.0).reshape(3, 4)
    assert_same(base, expected_base, "base")
    assert_same(transposed, expected_base.t(), "base.t()")
    assert_same(column, expected_base[:, 1], "base[:, 1]")
    assert_same(parameter, nn.Parameter(torch.ones(2)), "the Parameter")
    assert_same(same_x, x, "the argument x returned")
    assert_same(x_t, x.t(), "x.t()")
    assert len({t.untyped_storage().data_ptr() for t in (base, transposed, column)}) == 1, \
        "base and its views came back in separate storages."
    assert same_x.untyped_storage().data_ptr() == x_t.untyped_storage().data_ptr(), \
        "x and x.t() came back in separate storages."


def test_sending_a_tensor_leaves_the_senders_storage_resizable():
    """A request or reply reads the bytes of the sender's tensors; the sender (the checks'
    own tensors, a learner's cached tensors in a sandbox) may still resize them after."""
    for send in (lambda t: wire.dumps_request(t), lambda t: safe_dumps(t)):
        sent = torch.zeros(2)
        send(sent)
        sent.resize_(5)
        assert sent.shape == (5,), f"after sending, resize_(5) gave {tuple(sent.shape)}."
