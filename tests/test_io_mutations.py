"""Property-based tests (hypothesis) of fastrnn.load on mutated weights files.

Property: whatever bytes are flipped, overwritten, inserted, deleted or cut off, `fastrnn.load` either returns
arrays that lie inside what it read (every element readable) or raises FormatError / UnsafeFileError; never
another exception, never a crash, never a large allocation. Two kinds of mutation: raw bytes anywhere in the
file (headers, zip records, sizes), and mutations of one inner record (the pickle, a .npy header, the
safetensors JSON) re-wrapped in a valid container, so that they reach the parsers behind the container checks.

Bounded and deterministic: a fixed number of examples per case, derandomized (the same examples every run), no
example database, no deadline (the machine may be loaded; nothing here is timed).
"""
import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastrnn
from fastrnn import FormatError, UnsafeFileError
from fastrnn.io.tree import flatten
from fastrnn.io.ziparchive import EXPANSION_SLACK
from test_io_hostile import state_dict_pickle, write_torch_zip

EXAMPLES = 60
PEAK_LIMIT = EXPANSION_SLACK + (16 << 20)  # bytes: the most a small file may make load allocate
FIELD_VALUES = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]

_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# --------------------------------------------------------------------------------------------- base files
def _state_dict():
    rng = np.random.default_rng(0)
    return {k: v for k, v in fastrnn.LSTM(3, 4, seed=0).state_dict().items()} | {
        "head.weight": rng.standard_normal((2, 4)).astype(np.float64), "steps": np.arange(5)}


def _assembled_torch_zip(path):
    values = np.arange(24, dtype=np.float32)
    return write_torch_zip(path, state_dict_pickle(w=("0", 24, 0, (4, 6), (6, 1)), t=("0", 24, 2, (3, 2), (1, 3)),
                                                   b=("1", 4, 0, (4,), (1,))),
                           {"0": values.tobytes(), "1": values[:4].tobytes()})


def _torch_file(path, legacy):
    from conftest import require_torch
    torch = require_torch()
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    checkpoint = {"model": module.state_dict(), "epoch": 3, "half": torch.ones(3, dtype=torch.bfloat16)}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
    return path


BASES = {
    "torch zip (assembled)": _assembled_torch_zip,
    "torch zip (torch.save)": lambda path: _torch_file(path, legacy=False),
    "torch legacy (torch.save)": lambda path: _torch_file(path, legacy=True),
    "safetensors": lambda path: fastrnn.save(path, _state_dict()) or path,
    "npz": lambda path: np.savez(path, **_state_dict()) or path,
    "npz compressed": lambda path: np.savez_compressed(path, **_state_dict()) or path,
    "npy": lambda path: np.save(path, np.arange(12.0).reshape(3, 4)) or path,
}


@pytest.fixture(scope="module", params=list(BASES))
def base(request, tmp_path_factory):
    """(name, bytes) of one valid file of each format; it loads unmutated (the control)."""
    path = tmp_path_factory.mktemp("base") / "base.bin"
    BASES[request.param](path)
    if not path.exists():  # numpy adds its extension
        path = path.with_name(path.name + (".npy" if request.param == "npy" else ".npz"))
    fastrnn.load(path)
    return request.param, path.read_bytes()


# -------------------------------------------------------------------------------------------- mutations
def _position(size):
    """Offsets biased to where records live: the start, the end (zip directories), anywhere."""
    return st.one_of(st.integers(0, min(size, 64) - 1), st.integers(max(0, size - 256), size - 1),
                     st.integers(0, size - 1))


def mutation(size):
    pos = _position(size)
    return st.one_of(
        st.tuples(st.just("flip"), pos, st.integers(0, 7)),
        st.tuples(st.just("byte"), pos, st.integers(0, 255)),
        st.tuples(st.just("field32"), pos, st.sampled_from(FIELD_VALUES + [size, size * 1000])),
        st.tuples(st.just("field64"), pos, st.sampled_from([1 << 40, (1 << 63) - 1, size * 100])),
        st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), pos, st.integers(1, 64)),
        st.tuples(st.just("truncate"), pos, st.just(0)),
    )


def mutations(size):
    return st.lists(mutation(size), min_size=1, max_size=4)


def apply(data, ops):
    data = bytearray(data)
    for kind, pos, arg in ops:
        pos = min(pos, max(len(data) - 1, 0))
        if not data:
            break
        if kind == "flip":
            data[pos] ^= 1 << arg
        elif kind == "byte":
            data[pos] = arg
        elif kind == "field32":
            data[pos:pos + 4] = struct.pack("<I", arg & 0xFFFFFFFF)
        elif kind == "field64":
            data[pos:pos + 8] = struct.pack("<Q", arg & 0xFFFFFFFFFFFFFFFF)
        elif kind == "insert":
            data[pos:pos] = arg
        elif kind == "delete":
            del data[pos:pos + arg]
        else:
            del data[pos:]
    return bytes(data)


# ---------------------------------------------------------------------------------------------- property
def check_load(path):
    """Load with and without mmap: FormatError / UnsafeFileError, or arrays whose every byte can be read."""
    for mmap in (True, False):
        tracemalloc.start()
        try:
            try:
                result = fastrnn.load(path, mmap=mmap)
            except (FormatError, UnsafeFileError) as exc:
                assert str(exc), "an error without a message"
                result = None
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < PEAK_LIMIT, f"loading a {path.stat().st_size}-byte file allocated {peak} bytes"
        if result is None:
            continue
        arrays, _ = flatten(result)
        for key, arr in arrays.items():
            assert isinstance(arr, np.ndarray), key
            if arr.nbytes <= 1 << 24:   # views with zero strides may be nominally huge: read real ones whole
                arr.tobytes()


@given(data=st.data())
@_SETTINGS
def test_load_of_mutated_bytes(base, tmp_path, data):
    name, raw = base
    ops = data.draw(mutations(len(raw)), label="mutations")
    path = tmp_path / "mutated"
    path.write_bytes(apply(raw, ops))
    check_load(path)


# ------------------------------------------------- inner records mutated, re-wrapped in a valid container
def _rezip(members, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _members(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _inner_cases(name, raw):
    """(label, bytes of the inner record, rewrap(mutated record) -> whole file) for a base file."""
    if name.startswith("torch zip"):
        members = _members(raw)
        pkl = next(k for k in members if k.endswith("data.pkl"))
        return [("data.pkl", members[pkl], lambda b: _rezip({**members, pkl: b}))]
    if name.startswith("npz"):
        members = _members(raw)
        first = next(iter(members))
        kind = zipfile.ZIP_DEFLATED if "compressed" in name else zipfile.ZIP_STORED
        return [(".npy header", members[first][:128],
                 lambda b: _rezip({**members, first: b + members[first][128:]}, kind))]
    if name == "safetensors":
        n = struct.unpack("<Q", raw[:8])[0]
        return [("JSON header", raw[8:8 + n], lambda b: struct.pack("<Q", len(b)) + b + raw[8 + n:])]
    if name == "npy":
        return [(".npy header", raw[:128], lambda b: b + raw[128:])]
    return []  # legacy files: the raw mutations reach their pickles directly


@given(data=st.data())
@_SETTINGS
def test_load_of_mutated_inner_records(base, tmp_path, data):
    name, raw = base
    cases = _inner_cases(name, raw)
    if not cases:
        return
    for label, record, rewrap in cases:
        ops = data.draw(mutations(len(record)), label=label)
        path = tmp_path / "mutated"
        path.write_bytes(rewrap(apply(record, ops)))
        check_load(path)
