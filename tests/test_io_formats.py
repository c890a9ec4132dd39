"""safetensors, .npz and .npy through fastrnn.save / fastrnn.load: round trips, files of the reference writers
(the `safetensors` package, numpy.savez), content sniffing regardless of the extension, and malformed files."""
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import FormatError


@pytest.fixture
def tensors():
    rng = np.random.default_rng(0)
    return {
        "lstm.weight_ih_l0": rng.standard_normal((16, 3)).astype(np.float32),
        "lstm.bias_ih_l0": rng.standard_normal(16).astype(np.float32),
        "double": rng.standard_normal((2, 2)),
        "half": rng.standard_normal(5).astype(np.float16),
        "ints": np.arange(6, dtype=np.int64).reshape(2, 3),
        "bytes": np.arange(3, dtype=np.uint8),
        "flags": np.array([True, False]),
        "scalar": np.array(1.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "transposed": rng.standard_normal((3, 4)).astype(np.float32).T,  # non-contiguous input
    }


def assert_same(loaded, tensors):
    assert set(loaded) == set(tensors)
    for key, value in tensors.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape, key
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


@pytest.mark.parametrize("name", ["w.safetensors", "w.npz", "w.bin"])
@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip(tmp_path, tensors, name, mmap):
    fastrnn.save(tmp_path / name, tensors)
    loaded = fastrnn.load(tmp_path / name, mmap=mmap)
    assert_same(loaded, tensors)
    loaded["lstm.bias_ih_l0"][0] = 123.0  # writable, without touching the file
    assert fastrnn.load(tmp_path / name)["lstm.bias_ih_l0"][0] == tensors["lstm.bias_ih_l0"][0]


def test_extension_picks_the_written_format_and_content_picks_the_reader(tmp_path, tensors):
    fastrnn.save(tmp_path / "a.npz", tensors)
    fastrnn.save(tmp_path / "b.pt", tensors)  # any other extension: safetensors
    assert zipfile.is_zipfile(tmp_path / "a.npz")
    header_size = struct.unpack("<Q", (tmp_path / "b.pt").read_bytes()[:8])[0]
    assert json.loads((tmp_path / "b.pt").read_bytes()[8:8 + header_size])["double"]["dtype"] == "F64"
    (tmp_path / "a.npz").rename(tmp_path / "misnamed.safetensors")
    assert_same(fastrnn.load(tmp_path / "misnamed.safetensors"), tensors)


def test_safetensors_data_is_aligned_and_metadata_kept(tmp_path, tensors):
    from fastrnn.io.load import load_with_format
    fastrnn.save(tmp_path / "w.safetensors", tensors, metadata={"source": "test"})
    loaded, fmt, extra = load_with_format(tmp_path / "w.safetensors")
    assert fmt == "safetensors" and extra["metadata"] == {"source": "test"}
    for key, arr in loaded.items():
        assert arr.ctypes.data % arr.dtype.itemsize == 0, key


def test_nested_mappings_are_flattened_and_non_arrays_refused(tmp_path):
    weights = {"model": {"lstm.weight_hh_l0": np.ones((4, 1), np.float32)}, "extra": [np.zeros(2)]}
    fastrnn.save(tmp_path / "n.safetensors", weights)
    assert set(fastrnn.load(tmp_path / "n.safetensors")) == {"model.lstm.weight_hh_l0", "extra.0"}
    with pytest.raises(TypeError, match="not arrays: 'epoch'"):
        fastrnn.save(tmp_path / "x.safetensors", {"w": np.zeros(2), "epoch": 3})
    with pytest.raises(TypeError, match="mapping"):
        fastrnn.save(tmp_path / "x.safetensors", [np.zeros(2)])
    with pytest.raises(TypeError, match="object"):
        fastrnn.save(tmp_path / "x.safetensors", {"o": np.array([None])})
    assert not (tmp_path / "x.safetensors").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["n.safetensors"]  # no temporary files left behind


def test_save_over_the_file_being_read(tmp_path, tensors):
    path = tmp_path / "w.safetensors"
    fastrnn.save(path, tensors)
    loaded = fastrnn.load(path)           # memory-mapped views of `path`
    loaded["double"] = loaded["double"] * 2
    fastrnn.save(path, loaded)            # replaced, not truncated under the mapping
    assert_same(fastrnn.load(path), dict(tensors, double=tensors["double"] * 2))


@pytest.mark.parametrize("name", ["w.safetensors", "w.npz"])
def test_concurrent_saves_to_one_path_each_write_a_whole_file(tmp_path, name):
    """Eight threads save different arrays to one path: the file is one of them, whole; no temporary is left.
    (With one temporary name per process, two threads wrote into one file and renamed it half-written.)"""
    import threading
    arrays = [{"w": np.full((256, 256), k, np.float32)} for k in range(8)]
    barrier, errors = threading.Barrier(8), []

    def save(k):
        barrier.wait()
        try:
            for _ in range(5):
                fastrnn.save(tmp_path / name, arrays[k])
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    w = fastrnn.load(tmp_path / name)["w"]
    assert w.shape == (256, 256) and np.all(w == w[0, 0]) and 0 <= w[0, 0] < 8
    assert os.listdir(tmp_path) == [name]


def test_torch_tensors_are_saved_bfloat16_as_float32(tmp_path):
    from conftest import require_torch
    torch = require_torch()
    values = {"w": torch.randn(2, 3), "b": torch.randn(3, dtype=torch.bfloat16), "p": torch.nn.Parameter(
        torch.ones(2))}
    fastrnn.save(tmp_path / "t.safetensors", values)
    loaded = fastrnn.load(tmp_path / "t.safetensors")
    assert loaded["b"].dtype == np.float32
    np.testing.assert_array_equal(loaded["b"], values["b"].float().numpy())
    np.testing.assert_array_equal(loaded["w"], values["w"].numpy())


def test_files_of_the_safetensors_package_are_read_and_ours_are_read_there(tmp_path, tensors):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    plain = {k: np.asarray(v, order="C") for k, v in tensors.items()}
    safetensors_numpy.save_file(plain, str(tmp_path / "theirs.safetensors"), metadata={"k": "v"})
    assert_same(fastrnn.load(tmp_path / "theirs.safetensors"), plain)
    fastrnn.save(tmp_path / "ours.safetensors", tensors)
    assert_same(safetensors_numpy.load_file(str(tmp_path / "ours.safetensors")), plain)


def test_bfloat16_safetensors_of_the_safetensors_package(tmp_path):
    from conftest import require_torch
    torch = require_torch()
    safetensors_torch = pytest.importorskip("safetensors.torch")
    values = {"b": torch.randn(4, 3, dtype=torch.bfloat16), "f": torch.randn(2)}
    safetensors_torch.save_file(values, str(tmp_path / "bf16.safetensors"))
    loaded = fastrnn.load(tmp_path / "bf16.safetensors")
    np.testing.assert_array_equal(loaded["b"], values["b"].float().numpy())
    assert loaded["b"].dtype == np.float32


def test_numpy_savez_files(tmp_path, tensors):
    plain = {k.replace(".", "_"): v for k, v in tensors.items()}
    np.savez(tmp_path / "plain.npz", **plain)
    np.savez_compressed(tmp_path / "compressed.npz", **plain)
    np.save(tmp_path / "one.npy", tensors["transposed"])
    np.save(tmp_path / "fortran.npy", np.asfortranarray(tensors["lstm.weight_ih_l0"]))
    assert_same(fastrnn.load(tmp_path / "plain.npz"), plain)
    assert_same(fastrnn.load(tmp_path / "compressed.npz"), plain)
    np.testing.assert_array_equal(fastrnn.load(tmp_path / "one.npy"), tensors["transposed"])
    np.testing.assert_array_equal(fastrnn.load(tmp_path / "fortran.npy"), tensors["lstm.weight_ih_l0"])
    fastrnn.save(tmp_path / "ours.npz", tensors)
    with np.load(tmp_path / "ours.npz", allow_pickle=False) as theirs:
        assert_same(dict(theirs), tensors)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "objects.npz", o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(FormatError, match="no pickled objects"):
        fastrnn.load(tmp_path / "objects.npz")


def _npy_header(shape, descr="<f4"):
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def test_npz_member_declaring_a_huge_shape_is_refused_without_allocating(tmp_path):
    import tracemalloc
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", _npy_header((10**6, 10**6)) + bytes(16))
    for compress in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with zipfile.ZipFile(path, "w", compress) as archive:
            archive.writestr("w.npy", _npy_header((10**6, 10**6)) + bytes(16))
        tracemalloc.start()
        try:
            with pytest.raises(FormatError, match=r"declares shape \(1000000, 1000000\)"):
                fastrnn.load(path)
            assert tracemalloc.get_traced_memory()[1] < 16 * 2**20
        finally:
            tracemalloc.stop()


@pytest.mark.parametrize("header, match", [
    (b"\x93NUMPY\x09\x00" + struct.pack("<H", 4) + b"{}  ", "unknown .npy format version"),
    (_npy_header((2,), descr="|O"), "no pickled objects"),
    (_npy_header((-1,)), "invalid shape"),
    (b"\x93NUMPY\x01\x00" + struct.pack("<H", 20) + b"__import__('os')   \n", "unreadable .npy header"),
    (b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{", "truncated .npy header"),
])
def test_malformed_npy_headers(tmp_path, header, match):
    (tmp_path / "bad.npy").write_bytes(header + bytes(8))
    with pytest.raises(FormatError, match=match):
        fastrnn.load(tmp_path / "bad.npy")


def _safetensors(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("header, data, match", [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "outside the 4 data bytes"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "needs 12 bytes"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "v": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "overlaps"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "leaves a hole"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "cover 4 of the 8"),
    ({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0", "does not read"),
    ({"w": {"dtype": "F32", "shape": [10**12, 10**12], "data_offsets": [0, 4]}}, b"\0" * 4, "needs"),
    ({"w": {"dtype": "F32", "shape": "x", "data_offsets": [0, 4]}}, b"\0" * 4, "invalid shape"),
    ({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, "exactly dtype, shape, data_offsets"),
    ({"__metadata__": {"k": 1}}, b"", "__metadata__"),
])
def test_malformed_safetensors(tmp_path, header, data, match):
    (tmp_path / "bad.safetensors").write_bytes(_safetensors(header, data))
    with pytest.raises(FormatError, match=match):
        fastrnn.load(tmp_path / "bad.safetensors")


def test_safetensors_header_that_is_not_json(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", 6) + b"{oops}")
    with pytest.raises(FormatError, match="not valid JSON"):
        fastrnn.load(tmp_path / "bad.safetensors")


def test_truncated_safetensors(tmp_path, tensors):
    fastrnn.save(tmp_path / "w.safetensors", tensors)
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) - 7])
    with pytest.raises(FormatError):
        fastrnn.load(tmp_path / "cut.safetensors")


@pytest.mark.parametrize("content, match", [
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "HDF5 file"),
    (b"\x80\x04\x95" + bytes(20), "plain Python pickle"),
    (b"", "empty file"),
    (b"hello, world", "not a weights file"),
])
def test_other_formats_are_named(tmp_path, content, match):
    (tmp_path / "file.pt").write_bytes(content)
    with pytest.raises(FormatError, match=match):
        fastrnn.load(tmp_path / "file.pt")


def test_keras_archive_is_named(tmp_path):
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    with pytest.raises(FormatError, match=r"Keras \.keras archive.*from_keras"):
        fastrnn.load(tmp_path / "model.keras")


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastrnn.load(tmp_path / "nope.pt")


def test_importing_fastrnn_io_imports_no_reader_and_no_torch(tmp_path):
    import os
    import subprocess
    import sys
    code = ("import sys, fastrnn.io; "
            "print(sorted(m for m in sys.modules if m.startswith(('fastrnn.io.', 'torch', 'safetensors'))))")
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
    env = dict(os.environ, PYTHONPATH=package_parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['fastrnn.io.errors']"
