"""Crafted hostile and broken weights files: each raises UnsafeFileError / FormatError with a clear message,
nothing in the file runs (sentinel files the payloads would create stay absent), nothing is written, no huge
allocation happens. Files are assembled here from pickle opcodes and zipfile, without torch, so these tests run
where torch is absent; a control test checks the assembler makes files that do load.
"""
import os
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import FormatError, UnsafeFileError


# ------------------------------------------------------------------------------ a tiny pickle assembler
def op_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def op_int(value):
    if -2**31 <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def op_tuple(*items):
    return b"(" + b"".join(items) + b"t"


def op_call(func, *args):
    return func + op_tuple(*args) + b"R"


def op_dict(*pairs):
    return b"}(" + b"".join(k + v for k, v in pairs) + b"u"


def op_pickle(body):
    return b"\x80\x02" + body + b"."


def op_storage(key, numel, storage_type="FloatStorage"):
    return op_tuple(op_str("storage"), op_global("torch", storage_type), op_str(key), op_str("cpu"),
                    op_int(numel)) + b"Q"


def op_tensor(key, numel, offset, size, stride, storage_type="FloatStorage"):
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks), as torch pickles."""
    return op_call(op_global("torch._utils", "_rebuild_tensor_v2"), op_storage(key, numel, storage_type),
                   op_int(offset), op_tuple(*map(op_int, size)), op_tuple(*map(op_int, stride)), b"\x89",
                   op_call(op_global("collections", "OrderedDict")))


def write_torch_zip(path, data_pkl, storages=(), prefix="archive/", extra=()):
    """A torch.save-style zip: prefix/data.pkl, prefix/byteorder, prefix/data/<key> (stored uncompressed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(prefix + "data.pkl", data_pkl)
        archive.writestr(prefix + "byteorder", "little")
        for key, data in dict(storages).items():
            archive.writestr(f"{prefix}data/{key}", data)
        for name, data in extra:
            archive.writestr(name, data)
    return path


def state_dict_pickle(**tensors):
    """data.pkl of {name: tensor} where each tensor is (key, numel, offset, size, stride)."""
    return op_pickle(op_dict(*[(op_str(name), op_tensor(*spec)) for name, spec in tensors.items()]))


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def sentinel(tmp_path):
    """A path the payloads try to create; asserted absent after each test (and tmp_path otherwise unchanged)."""
    path = tmp_path / "PWNED"
    before = set(os.listdir(tmp_path))
    yield path
    assert not path.exists(), "a payload in a weights file ran"
    assert set(os.listdir(tmp_path)) == before | _made, "loading wrote a file"


_made = set()


@pytest.fixture(autouse=True)
def _reset_made():
    _made.clear()


def hostile(tmp_path, data_pkl, name="evil.pt", **kwargs):
    _made.add(name)
    return write_torch_zip(tmp_path / name, data_pkl, **kwargs)


# ---------------------------------------------------------------------------------------------- control
def test_the_assembled_file_loads(tmp_path):
    values = np.arange(12, dtype=np.float32)
    path = write_torch_zip(tmp_path / "ok.pt", state_dict_pickle(w=("0", 12, 2, (2, 3), (1, 2))),
                           {"0": values.tobytes()})
    sd = fastrnn.load(path)
    np.testing.assert_array_equal(sd["w"], np.lib.stride_tricks.as_strided(values[2:], (2, 3), (4, 8)))


def test_device_locations_load_to_the_cpu(tmp_path):
    values = np.arange(4, dtype=np.float32)
    storage = op_tuple(op_str("storage"), op_global("torch.cuda", "FloatStorage"), op_str("0"), op_str("cuda:1"),
                       op_int(4)) + b"Q"
    data = op_pickle(op_call(op_global("torch._utils", "_rebuild_tensor_v2"), storage, op_int(0),
                             op_tuple(op_int(4)), op_tuple(op_int(1)), b"\x89", b"N"))
    np.testing.assert_array_equal(fastrnn.load(write_torch_zip(tmp_path / "gpu.pt", data, {"0": values.tobytes()})),
                                  values)


# ------------------------------------------------------------------------------ globals that run code
def _shell(sentinel):
    return f"touch {sentinel}"


def _python(sentinel):
    return f"open({str(sentinel)!r}, 'w').write('x')"


@pytest.mark.parametrize("module, name, payload", [
    ("os", "system", _shell),
    ("posix", "system", _shell),
    ("nt", "system", _shell),
    ("builtins", "eval", _python),
    ("__builtin__", "eval", _python),
    ("builtins", "exec", _python),
    ("subprocess", "getoutput", _shell),
])
def test_code_running_globals_are_refused(tmp_path, sentinel, module, name, payload):
    data = op_pickle(op_call(op_global(module, name), op_str(payload(sentinel))))
    with pytest.raises(UnsafeFileError, match=rf"refused to load global {module}\.{name}.*Nothing in the file "
                                              rf"was executed"):
        fastrnn.load(hostile(tmp_path, data))


def test_subprocess_popen_is_refused(tmp_path, sentinel):
    data = op_pickle(op_call(op_global("subprocess", "Popen"),
                             b"]" + b"(" + op_str("touch") + op_str(str(sentinel)) + b"e"))
    with pytest.raises(UnsafeFileError, match=r"subprocess\.Popen"):
        fastrnn.load(hostile(tmp_path, data))


class _Evil:
    """What an attacker pickles: __reduce__ returning os.system (pickled as posix.system on Linux)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_reduce_payload_of_a_python_object_is_refused(tmp_path, sentinel):
    data = pickle.dumps(_Evil(_shell(sentinel)), protocol=2)
    with pytest.raises(UnsafeFileError, match=r"(posix|nt|os)\.system"):
        fastrnn.load(hostile(tmp_path, data))


def test_reduce_chain_through_getattr_and_import_is_refused(tmp_path, sentinel):
    # getattr(__import__('os'), 'system')('touch ...'): refused at the first global, getattr
    get_system = op_call(op_global("builtins", "getattr"), op_call(op_global("builtins", "__import__"),
                                                                   op_str("os")), op_str("system"))
    data = op_pickle(get_system + op_tuple(op_str(_shell(sentinel))) + b"R")
    with pytest.raises(UnsafeFileError, match=r"builtins\.getattr"):
        fastrnn.load(hostile(tmp_path, data))


def test_payload_hidden_inside_a_valid_state_dict_is_refused(tmp_path, sentinel):
    values = np.ones(4, np.float32)
    data = op_pickle(op_dict((op_str("weight"), op_tensor("0", 4, 0, (4,), (1,))),
                             (op_str("x"), op_call(op_global("os", "system"), op_str(_shell(sentinel))))))
    with pytest.raises(UnsafeFileError, match=r"os\.system"):
        fastrnn.load(hostile(tmp_path, data, storages={"0": values.tobytes()}))


@pytest.mark.parametrize("module, name", [
    ("__main__", "Net"), ("torch.nn.modules.rnn", "LSTM"), ("numpy.core.multiarray", "_reconstruct"),
    ("copyreg", "_reconstructor"), ("builtins", "getattr"), ("torch", "load"), ("torch._utils", "_rebuild_fake"),
    ("builtins", "bytes"), ("io", "open"), ("shutil", "rmtree"),
])
def test_any_other_global_is_refused_by_name(tmp_path, module, name):
    data = op_pickle(op_global(module, name))
    with pytest.raises(UnsafeFileError, match=rf"{module}\.{name}"):
        fastrnn.load(hostile(tmp_path, data))


def test_a_pickled_model_class_gets_the_re_save_hint(tmp_path):
    data = op_pickle(op_call(op_global("__main__", "Net")))
    with pytest.raises(UnsafeFileError, match=r"torch\.save\(model\.state_dict\(\), path\)"):
        fastrnn.load(hostile(tmp_path, data))


def test_refusal_happens_before_any_earlier_call_in_the_pickle_could_matter(tmp_path, sentinel):
    # an allowed global first, then a forbidden one: still refused, still nothing ran
    data = op_pickle(op_tuple(op_call(op_global("collections", "OrderedDict")),
                              op_call(op_global("builtins", "exec"), op_str(_python(sentinel)))))
    with pytest.raises(UnsafeFileError, match=r"builtins\.exec"):
        fastrnn.load(hostile(tmp_path, data))


def test_legacy_format_file_with_a_payload_is_refused(tmp_path, sentinel):
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    info = pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    data = magic + info + pickle.dumps(_Evil(_shell(sentinel)), protocol=2)
    path = tmp_path / "legacy.pt"
    _made.add(path.name)
    path.write_bytes(data)
    with pytest.raises(UnsafeFileError, match=r"system"):
        fastrnn.load(path)


# --------------------------------------------------------------------- abuse of the allowed functions
@pytest.mark.parametrize("body, match", [
    (op_call(op_global("builtins", "bytearray"), op_int(10**12)), "bytearray from something other than bytes"),
    (op_call(op_global("_codecs", "encode"), op_str("x"), op_str("rot13")), "_codecs.encode"),
    (op_call(op_global("builtins", "set"), op_int(5)), "builds a set from a int"),
    (op_call(op_global("torch", "Size"), op_tuple(op_str("x"))), "torch.Size"),
    (op_call(op_global("torch", "device"), op_int(3)), "torch.device"),
    (op_call(op_global("torch", "FloatStorage"), op_int(3)), "malformed"),
    (op_call(op_global("torch._utils", "_rebuild_tensor_v2"), op_str("not a storage"), op_int(0),
             op_tuple(op_int(1)), op_tuple(op_int(1)), b"\x89", b"N"), "not a typed storage"),
    (op_call(op_global("torch._utils", "_rebuild_parameter"), op_str("x"), b"\x89", b"N"), "not a tensor"),
    (op_call(op_global("torch._tensor", "_rebuild_from_type_v2"), op_global("builtins", "print"),
             op_global("torch", "Tensor"), op_tuple(), b"N"), "builtins.print"),
    (op_call(op_global("torch._tensor", "_rebuild_from_type_v2"), op_global("collections", "OrderedDict"),
             op_global("torch", "Tensor"), op_tuple(), b"N"), "only plain tensors"),
    (op_call(op_global("torch._utils", "_rebuild_sparse_tensor")), "sparse tensor"),
    (op_global("torch", "qint8"), "torch.qint8"),
    (op_global("torch", "FloatStorage") + op_dict() + b"b", "sets state"),  # BUILD on a marker
    (op_tuple(op_str("storage")) + b"Q", "unknown persistent record"),
    (op_str("x") + b"Q", "unknown persistent record"),
    (b"\x80\x05\x97", "out-of-band"),  # protocol 5 NEXT_BUFFER
], ids=lambda v: v if isinstance(v, str) else None)
def test_misused_allowed_globals_and_opcodes(tmp_path, body, match):
    with pytest.raises((FormatError, UnsafeFileError), match=match):
        fastrnn.load(hostile(tmp_path, op_pickle(body)))


def test_build_on_a_rebuilt_tensor_is_refused_or_harmless(tmp_path):
    # BUILD (set state) on the ndarray a tensor became: numpy's __setstate__ rejects pickle-made state
    data = op_pickle(op_tensor("0", 4, 0, (4,), (1,)) + op_tuple(op_int(1), op_tuple(op_int(4)), b"N", b"\x89",
                                                                  b"C\x04abcd") + b"b")
    with pytest.raises(FormatError, match="malformed"):
        fastrnn.load(hostile(tmp_path, data, storages={"0": bytes(16)}))


# ------------------------------------------------------------------------------- storages and layouts
def test_missing_storage_record(tmp_path):
    data = state_dict_pickle(w=("7", 4, 0, (4,), (1,)))
    with pytest.raises(FormatError, match=r"storage '7' named in data\.pkl: the archive has no member "
                                          r"'archive/data/7'"):
        fastrnn.load(hostile(tmp_path, data, storages={"0": bytes(16)}))


def test_storage_smaller_than_its_declared_size(tmp_path):
    data = state_dict_pickle(w=("0", 9, 0, (3, 3), (3, 1)))
    with pytest.raises(FormatError, match=r"storage '0' declares 36 bytes but its record holds 16"):
        fastrnn.load(hostile(tmp_path, data, storages={"0": bytes(16)}))


def test_view_reaching_past_its_storage(tmp_path):
    data = state_dict_pickle(w=("0", 4, 1, (2, 2), (2, 1)))  # needs element 1 + 2 + 1 = 4 of 4
    with pytest.raises(FormatError, match=r"needs element 4 of storage '0', which holds 4"):
        fastrnn.load(hostile(tmp_path, data, storages={"0": bytes(16)}))


@pytest.mark.parametrize("offset, size, stride", [
    (-1, (2,), (1,)), (0, (-2,), (1,)), (0, (2,), (-1,)), (0, (2, 2), (1,)),
])
def test_invalid_layouts(tmp_path, offset, size, stride):
    data = op_pickle(op_call(op_global("torch._utils", "_rebuild_tensor_v2"), op_storage("0", 4),
                             op_int(offset), op_tuple(*map(op_int, size)), op_tuple(*map(op_int, stride)),
                             b"\x89", b"N"))
    with pytest.raises(FormatError, match="invalid layout"):
        fastrnn.load(hostile(tmp_path, data, storages={"0": bytes(16)}))


def test_huge_declared_sizes_are_refused_without_allocating(tmp_path):
    cases = {
        "numel": state_dict_pickle(w=("0", 10**15, 0, (4,), (1,))),
        "shape": state_dict_pickle(w=("0", 4, 0, (10**6, 10**6), (10**6, 1))),
        "bytes8": op_pickle(b"\x8e" + struct.pack("<Q", 10**12) + b"abc"),       # BINBYTES8
        "bytearray8": b"\x80\x05\x96" + struct.pack("<Q", 10**12) + b"abc.",      # BYTEARRAY8
        "unicode8": op_pickle(b"\x8d" + struct.pack("<Q", 10**12) + b"abc"),     # BINUNICODE8
        "bytes4": op_pickle(b"B" + struct.pack("<I", 2**32 - 1) + b"abc"),          # BINBYTES
        "memo": op_pickle(b"N" + b"r" + struct.pack("<I", 2**31) + b"0N"),       # LONG_BINPUT: memo table
        "memo_text": op_pickle(b"Np2147483648\n0N"),                             # PUT
    }
    for name, data in cases.items():
        path = hostile(tmp_path, data, name=f"{name}.pt", storages={"0": bytes(16)})
        tracemalloc.start()
        try:
            with pytest.raises(FormatError):
                fastrnn.load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 * 2**20, f"{name}: loading allocated {peak} bytes"


def test_unsafe_storage_keys(tmp_path):
    for key in ("../../etc/passwd", "/etc/passwd", "..", "a/b", ""):
        data = state_dict_pickle(w=(key, 4, 0, (4,), (1,)))
        with pytest.raises(FormatError, match="invalid key"):
            fastrnn.load(hostile(tmp_path, data, storages={"0": bytes(16)}))


def test_member_names_with_dot_dot_or_absolute_paths_are_never_paths(tmp_path, sentinel):
    # the archive also carries members named like paths outside it: they are ignored, nothing is written
    values = np.arange(4, dtype=np.float32)
    extra = [("../PWNED", b"x"), ("/tmp/PWNED", b"x"), ("archive/../../PWNED", b"x")]
    path = hostile(tmp_path, state_dict_pickle(w=("0", 4, 0, (4,), (1,))), storages={"0": values.tobytes()},
                   extra=extra)
    np.testing.assert_array_equal(fastrnn.load(path)["w"], values)
    assert not (tmp_path.parent / "PWNED").exists()


def test_file_is_never_written_through_the_arrays(tmp_path):
    values = np.arange(4, dtype=np.float32)
    path = write_torch_zip(tmp_path / "ok.pt", state_dict_pickle(w=("0", 4, 0, (4,), (1,))),
                           {"0": values.tobytes()})
    before = path.read_bytes()
    for mmap in (True, False):
        sd = fastrnn.load(path, mmap=mmap)
        sd["w"][:] = 99  # copy-on-write mapping / own buffer: the file stays as it was
        del sd
    assert path.read_bytes() == before


# -------------------------------------------------------------------------------- broken containers
def _good_file(tmp_path):
    values = np.arange(1000, dtype=np.float32)
    return write_torch_zip(tmp_path / "good.pt", state_dict_pickle(w=("0", 1000, 0, (1000,), (1,))),
                           {"0": values.tobytes()})


def test_truncated_zip(tmp_path):
    data = _good_file(tmp_path).read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        path = tmp_path / "cut.pt"
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError, match="not a readable zip archive|truncated"):
            fastrnn.load(path)


def test_zip_whose_storage_lies_past_the_end_of_the_file(tmp_path):
    # the central directory is intact but claims a member bigger than the bytes before it
    path = _good_file(tmp_path)
    data = bytearray(path.read_bytes())
    central = zipfile.ZipFile(path).start_dir
    entry = data.index(b"archive/data/0", central) - 46  # the central directory entry of data/0
    struct.pack_into("<II", data, entry + 20, 10**9, 10**9)  # its compressed and real sizes
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="truncated or corrupt"):
        fastrnn.load(path)


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 100, 10000):
        path = tmp_path / f"random{n}.pt"
        path.write_bytes(rng.bytes(n))
        with pytest.raises(FormatError, match="empty file|not a weights file"):
            fastrnn.load(path)


def test_zip_without_data_pkl(tmp_path):
    path = tmp_path / "nodata.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data/0", bytes(16))
        archive.writestr("archive/version", "3")
    with pytest.raises(FormatError, match="without a data.pkl record: not a torch.save file"):
        fastrnn.load(path)


def test_empty_zip(tmp_path):
    path = tmp_path / "empty.zip"
    zipfile.ZipFile(path, "w").close()
    with pytest.raises(FormatError, match="empty zip archive"):
        fastrnn.load(path)


def test_torchscript_archive(tmp_path):
    path = hostile(tmp_path, op_pickle(b"N"), name="scripted.pt",
                   extra=[("archive/constants.pkl", op_pickle(b")")), ("archive/code/__torch__.py", b"")])
    with pytest.raises(FormatError, match=r"TorchScript archive.*torch\.jit\.load\(path\)\.state_dict\(\)"):
        fastrnn.load(path)


def test_malformed_pickles(tmp_path):
    for body in (b"\x80\x02", b"\x80\x02X\xff\xff\xff\x7fabc.", b"\xff\xff", op_pickle(b"N") + b"junk",
                 op_pickle(b"t"), op_pickle(b"0")):
        with pytest.raises(FormatError, match="malformed|truncated|after the end"):
            fastrnn.load(hostile(tmp_path, body))


def test_plain_pickle_file_is_not_unpickled(tmp_path, sentinel):
    path = tmp_path / "model.pkl"
    _made.add(path.name)
    path.write_bytes(pickle.dumps(_Evil(_shell(sentinel)), protocol=4))
    with pytest.raises(FormatError, match="plain Python pickle"):
        fastrnn.load(path)


def test_errors_are_value_errors():
    assert issubclass(FormatError, ValueError) and issubclass(UnsafeFileError, ValueError)
