"""Malformed and hostile zip archives (torch.save files, .npz): every one raises FormatError, compressed members
are bounded (zip bombs refused before decompressing, a storage decompressed only as far as its tensors need),
and nothing allocates more than the data justifies. Files are assembled with zipfile, without torch.
"""
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import fastrnn
from fastrnn import FormatError
from fastrnn.io.ziparchive import EXPANSION_LIMIT, EXPANSION_SLACK
from test_io_hostile import state_dict_pickle, write_torch_zip

_CENTRAL_MAGIC = b"PK\x01\x02"
_LOCAL_MAGIC = b"PK\x03\x04"


def _zip_bytes(members, compression=zipfile.ZIP_STORED):
    """A zip (bytes) of {name: bytes}, each written with `compression` (or a per-name {name: compression})."""
    import io
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            kind = compression.get(name, zipfile.ZIP_STORED) if isinstance(compression, dict) else compression
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=kind)
    return buffer.getvalue()


def _torch_members(numel=4, key="0", data=None):
    data = np.arange(numel, dtype=np.float32).tobytes() if data is None else data
    return {"archive/data.pkl": state_dict_pickle(w=(key, numel, 0, (numel,), (1,))),
            "archive/byteorder": b"little", f"archive/data/{key}": data}


def _patch_records(raw, name, **fields):
    """Rewrite fields of `name`'s central-directory and local headers: version (needed to extract),
    method (compression), file_size (uncompressed)."""
    raw = bytearray(raw)
    encoded = name.encode()
    # (magic, offset of version-needed, of method, of uncompressed size, of name length, header size)
    for magic, version_at, method_at, size_at, name_len_at, fixed in (
            (_CENTRAL_MAGIC, 6, 10, 24, 28, 46), (_LOCAL_MAGIC, 4, 8, 22, 26, 30)):
        start = 0
        while (start := raw.find(magic, start)) >= 0:
            name_len = struct.unpack_from("<H", raw, start + name_len_at)[0]
            if raw[start + fixed:start + fixed + name_len] == encoded:
                if "version" in fields:
                    struct.pack_into("<H", raw, start + version_at, fields["version"])
                if "method" in fields:
                    struct.pack_into("<H", raw, start + method_at, fields["method"])
                if "file_size" in fields:
                    struct.pack_into("<I", raw, start + size_at, fields["file_size"])
            start += 4
    return bytes(raw)


def _write(tmp_path, raw, name="m.pt"):
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def test_control_the_assembled_archives_load(tmp_path):
    members = _torch_members()
    for compression in (zipfile.ZIP_STORED, {"archive/data/0": zipfile.ZIP_DEFLATED}, zipfile.ZIP_DEFLATED):
        sd = fastrnn.load(_write(tmp_path, _zip_bytes(members, compression)))
        np.testing.assert_array_equal(sd["w"], np.arange(4, dtype=np.float32))


# ---------------------------------------------------------------- corrupt headers: FormatError, not zipfile's
@pytest.mark.parametrize("patch, match", [
    (dict(version=255), "zip file version"),          # was a raw NotImplementedError from zipfile
    (dict(method=99), "compression method"),          # an unknown compression method: NotImplementedError
    (dict(method=zipfile.ZIP_BZIP2), "member"),       # a method that does not match the data
    (dict(method=zipfile.ZIP_LZMA), "member"),
])
@pytest.mark.parametrize("member", ["archive/data.pkl", "archive/data/0"])
def test_corrupt_central_directory_fields(tmp_path, patch, match, member):
    raw = _patch_records(_zip_bytes(_torch_members(), {"archive/data/0": zipfile.ZIP_DEFLATED,
                                                       "archive/data.pkl": zipfile.ZIP_DEFLATED}), member, **patch)
    with pytest.raises(FormatError, match=match):
        fastrnn.load(_write(tmp_path, raw))


def test_corrupt_version_in_an_npz(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, a=np.ones(3))
    path.write_bytes(_patch_records(path.read_bytes(), "a.npy", version=255))
    with pytest.raises(FormatError, match="zip file version"):
        fastrnn.load(path)


def test_deflated_member_with_a_bad_crc(tmp_path):
    raw = bytearray(_zip_bytes(_torch_members(numel=64), zipfile.ZIP_DEFLATED))
    pkl = raw.find(b"archive/data.pkl") + len("archive/data.pkl")  # the local header's name, then its data
    raw[pkl + 2] ^= 0xFF
    with pytest.raises(FormatError):
        fastrnn.load(_write(tmp_path, bytes(raw)))


# ------------------------------------------------------------------------------------------- zip bombs
def _deflated_zeros(nbytes, prefix=b""):
    """A raw DEFLATE stream of `prefix` then `nbytes` zero bytes, built in chunks (zeros deflate ~1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(prefix)] + [compressor.compress(chunk) for _ in range(nbytes >> 20)]
    parts.append(compressor.compress(bytes(nbytes & ((1 << 20) - 1))))
    return b"".join(parts) + compressor.flush()


def _zeros_crc(nbytes):
    crc, chunk = 0, bytes(1 << 20)
    for start in range(0, nbytes, len(chunk)):
        crc = zlib.crc32(chunk[:nbytes - start], crc)
    return crc


def _hand_zip(tmp_path, members, bomb_name, stream, nbytes, crc):
    """A zip built record by record: stored `members`, then `bomb_name` holding the deflate `stream`."""
    body, central = bytearray(), bytearray()

    def add(name, method, data, size, member_crc):
        encoded = name.encode()
        offset = len(body)
        body.extend(struct.pack("<4s5H3L2H", _LOCAL_MAGIC, 20, 0, method, 0, 0, member_crc, len(data), size,
                                len(encoded), 0) + encoded + data)
        central.extend(struct.pack("<4s6H3L5H2L", _CENTRAL_MAGIC, 20, 20, 0, method, 0, 0, member_crc, len(data),
                                   size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)

    for name, data in members.items():
        add(name, 0, data, len(data), zlib.crc32(data))
    add(bomb_name, zipfile.ZIP_DEFLATED, stream, nbytes, crc)
    count = len(members) + 1
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    path = tmp_path / "bomb.pt"
    path.write_bytes(bytes(body + central + end))
    return path


def _bomb_members(numel, key="0"):
    return {"archive/data.pkl": state_dict_pickle(w=(key, numel, 0, (numel,), (1,))),
            "archive/byteorder": b"little"}


def test_hand_built_zip_loads_when_small(tmp_path):
    """Control: the hand-built archive is a valid zip that loads (deflated storage of 4096 zeros)."""
    path = _hand_zip(tmp_path, _bomb_members(1024), "archive/data/0", _deflated_zeros(4096), 4096,
                     zlib.crc32(bytes(4096)))
    sd = fastrnn.load(path)
    np.testing.assert_array_equal(sd["w"], np.zeros(1024, np.float32))


@pytest.mark.parametrize("mmap", [True, False])
def test_zip_bomb_storage_is_refused_before_decompressing(tmp_path, mmap):
    """A storage member deflated ~1000:1 whose sizes are all honest, beyond EXPANSION_LIMIT x the file."""
    nbytes = EXPANSION_SLACK + (8 << 20)
    path = _hand_zip(tmp_path, _bomb_members(nbytes // 4), "archive/data/0", _deflated_zeros(nbytes), nbytes,
                     0)  # CRC never reached
    assert nbytes > EXPANSION_LIMIT * path.stat().st_size + EXPANSION_SLACK
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="zip bomb"):
            fastrnn.load(path, mmap=mmap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"refusing the bomb allocated {peak} bytes"


def test_declared_size_of_gigabytes_is_refused(tmp_path):
    """The filed case: a small deflated storage whose records declare 3 GiB."""
    raw = _zip_bytes(_torch_members(numel=256), {"archive/data/0": zipfile.ZIP_DEFLATED})
    raw = _patch_records(raw, "archive/data/0", file_size=3 << 30)
    with pytest.raises(FormatError, match="zip bomb"):
        fastrnn.load(_write(tmp_path, raw))


def test_compressed_data_pkl_bomb_is_refused(tmp_path):
    nbytes = EXPANSION_SLACK + (8 << 20)
    path = _hand_zip(tmp_path, {"archive/byteorder": b"little"}, "archive/data.pkl", _deflated_zeros(nbytes),
                     nbytes, 0)
    with pytest.raises(FormatError, match="zip bomb"):
        fastrnn.load(path)


def test_storage_is_decompressed_only_as_far_as_its_tensors_need(tmp_path):
    """A deflated 32 MiB storage (within the limit) whose only tensor uses 4 floats: ~16 bytes decompressed."""
    nbytes = 32 << 20
    path = _hand_zip(tmp_path, _bomb_members(4), "archive/data/0", _deflated_zeros(nbytes), nbytes,
                     _zeros_crc(nbytes))
    tracemalloc.start()
    try:
        sd = fastrnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(sd["w"], np.zeros(4, np.float32))
    assert peak < 4 << 20, f"loading 16 bytes of a compressed storage allocated {peak} bytes"


def test_compressed_npz_bomb_is_refused(tmp_path):
    nbytes = EXPANSION_SLACK + (8 << 20)
    header = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + (
        "{'descr': '|u1', 'fortran_order': False, 'shape': (%d,), }" % (nbytes - 128)).encode().ljust(117) + b"\n"
    assert len(header) == 128
    path = _hand_zip(tmp_path, {}, "a.npy", _deflated_zeros(nbytes - 128, prefix=header), nbytes, 0)
    with pytest.raises(FormatError, match="zip bomb"):
        fastrnn.load(path)


def test_savez_compressed_of_real_weights_loads(tmp_path):
    """Control: numpy.savez_compressed files, including all-zero arrays, stay within the limit and load."""
    rng = np.random.default_rng(0)
    arrays = {"w": rng.standard_normal((64, 32)).astype(np.float32), "zeros": np.zeros((512, 512))}
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    loaded = fastrnn.load(tmp_path / "c.npz")
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)


def test_bomb_spread_over_members_is_refused(tmp_path):
    """Each compressed storage within the per-member limit, together far beyond it: the archive's budget."""
    per_member = EXPANSION_SLACK // 2 + (1 << 20)
    stream, crc = _deflated_zeros(per_member), _zeros_crc(per_member)
    members = {"archive/data.pkl": state_dict_pickle(**{f"w{k}": (str(k), per_member // 4, 0, (per_member // 4,),
                                                                   (1,)) for k in range(3)}),
               "archive/byteorder": b"little"}
    path = _hand_zip_many(tmp_path, members, {f"archive/data/{k}": (stream, per_member, crc) for k in range(3)})
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="spread over members"):
            fastrnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * per_member + (8 << 20)


def _hand_zip_many(tmp_path, members, deflated):
    """Like _hand_zip with several deflated members {name: (stream, uncompressed size, CRC)}."""
    body, central = bytearray(), bytearray()
    entries = [(name, 0, data, len(data), zlib.crc32(data)) for name, data in members.items()]
    entries += [(name, zipfile.ZIP_DEFLATED, stream, size, crc) for name, (stream, size, crc) in deflated.items()]
    for name, method, data, size, crc in entries:
        encoded = name.encode()
        offset = len(body)
        body.extend(struct.pack("<4s5H3L2H", _LOCAL_MAGIC, 20, 0, method, 0, 0, crc, len(data), size,
                                len(encoded), 0) + encoded + data)
        central.extend(struct.pack("<4s6H3L5H2L", _CENTRAL_MAGIC, 20, 20, 0, method, 0, 0, crc, len(data), size,
                                   len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0)
    path = tmp_path / "spread.pt"
    path.write_bytes(bytes(body + central + end))
    return path


def test_duplicate_member_names_are_refused(tmp_path):
    import warnings
    path = tmp_path / "dup.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name" warning
        write_torch_zip(path, state_dict_pickle(w=("0", 4, 0, (4,), (1,))), {"0": bytes(16)},
                        extra=[("archive/data/0", bytes(range(16)))])
    with pytest.raises(FormatError, match="two members named 'archive/data/0'"):
        fastrnn.load(path)
