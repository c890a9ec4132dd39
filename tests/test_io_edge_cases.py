"""Edge cases of the readers that fuzzing found (or could find) only by luck: shapes NumPy cannot hold
(zero-size with huge axes, too many axes), deeply nested or ambiguous safetensors headers. Each is a FormatError
naming the problem, never NumPy's ValueError or a RecursionError."""
import json
import struct

import numpy as np
import pytest

import fastrnn
from fastrnn import FormatError
from test_io_hostile import state_dict_pickle, write_torch_zip

HUGE = 1 << 62


def npy_bytes(shape, descr="<f4", data=b""):
    header = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)).encode()
    header = header.ljust(117) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def safetensors_bytes(header, data=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


BAD_SHAPES = [((0, HUGE), "too large"), ((0, 1 << 40, 1 << 40), "too large"), ((1,) * 40, "dimensions")]


@pytest.mark.parametrize("shape, match", BAD_SHAPES)
def test_npy_shapes_numpy_cannot_hold(tmp_path, shape, match):
    path = tmp_path / "a.npy"
    path.write_bytes(npy_bytes(str(shape), data=b"\0" * 4))
    with pytest.raises(FormatError, match=match):
        fastrnn.load(path)


@pytest.mark.parametrize("shape, match", BAD_SHAPES)
def test_npz_shapes_numpy_cannot_hold(tmp_path, shape, match):
    import zipfile
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", npy_bytes(str(shape), data=b"\0" * 4))
    with pytest.raises(FormatError, match=match):
        fastrnn.load(path)


@pytest.mark.parametrize("shape, match", BAD_SHAPES)
def test_safetensors_shapes_numpy_cannot_hold(tmp_path, shape, match):
    path = tmp_path / "a.safetensors"
    nbytes = 4 if 0 not in shape else 0
    path.write_bytes(safetensors_bytes({"a": {"dtype": "F32", "shape": list(shape),
                                              "data_offsets": [0, nbytes]}}, b"\0" * nbytes))
    with pytest.raises(FormatError, match=match):
        fastrnn.load(path)


@pytest.mark.parametrize("shape", [s for s, _ in BAD_SHAPES])
def test_torch_shapes_numpy_cannot_hold(tmp_path, shape):
    strides = tuple(1 for _ in shape)
    path = write_torch_zip(tmp_path / "a.pt", state_dict_pickle(w=("0", 1, 0, shape, strides)),
                           {"0": b"\0" * 4})
    with pytest.raises(FormatError, match="too large|dimensions"):
        fastrnn.load(path)


def test_zero_size_arrays_of_ordinary_shape_still_load(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((0, 5), np.float32))
    assert fastrnn.load(tmp_path / "e.npy").shape == (0, 5)
    fastrnn.save(tmp_path / "e.safetensors", {"e": np.zeros((3, 0))})
    assert fastrnn.load(tmp_path / "e.safetensors")["e"].shape == (3, 0)


@pytest.mark.parametrize("text", [b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}",
                                  b'{"a":' + b'{"a":' * 100000 + b"1" + b"}" * 100001])
def test_deeply_nested_safetensors_header(tmp_path, text):
    path = tmp_path / "deep.safetensors"
    path.write_bytes(safetensors_bytes(text))
    with pytest.raises(FormatError, match="not valid JSON"):
        fastrnn.load(path)


def test_duplicate_safetensors_keys_are_ambiguous(tmp_path):
    entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    path = tmp_path / "dup.safetensors"
    path.write_bytes(safetensors_bytes(('{"a":%s,"a":%s}' % (entry, entry)).encode(), b"\0" * 4))
    with pytest.raises(FormatError, match="duplicate key 'a'"):
        fastrnn.load(path)
