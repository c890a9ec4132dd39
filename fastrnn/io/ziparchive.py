"""Read members of a zip archive (torch.save files, .npz) as arrays over the file's own bytes, never extracting.

Members are looked up by name in the central directory and read at their recorded offsets inside the one open
file: a member name such as "../x" or "/etc/passwd" is only a dictionary key here, never a path, and nothing is
written anywhere. A stored (uncompressed) member, as torch and numpy write them, becomes a view of the mapped
file (or one read); a compressed member is decompressed once, straight into its array, never past the bytes the
caller needs (a storage: what its tensors use). Zip bombs: a compressed member may not record more than
EXPANSION_LIMIT times the file's size (plus EXPANSION_SLACK bytes), nor may all compressed members read from
one archive add up to more, which real weights never approach (floats deflate to ~90%; torch never compresses
storages), while a bomb's ratio is ~1000. Member names must be unique (readers disagree on duplicates).
Every error of Python's zipfile on a malformed archive (BadZipFile, NotImplementedError for an unknown version
or compression, zlib.error, ...) becomes a FormatError.
"""
import struct
import zipfile
import zlib

import numpy as np

from .errors import FormatError

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header, 30 bytes
_LOCAL_MAGIC = b"PK\x03\x04"
EXPANSION_LIMIT = 32
EXPANSION_SLACK = 64 << 20  # bytes: small files may hold small compressed members of any ratio
_CHUNK = 1 << 20            # bytes decompressed per read
# what zipfile (and zlib, bz2, lzma under it) raise on a malformed archive or member
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error,
              NotImplementedError, RuntimeError, OverflowError, IndexError, KeyError, zlib.error)


class ZipArchive:
    """The members of the zip file open in `source` (a fastrnn.io.source.Source)."""

    def __init__(self, source):
        self.source = source
        try:
            self.zip = zipfile.ZipFile(source.file)
            infos = self.zip.infolist()
        except ZIP_ERRORS as exc:
            raise FormatError(f"{source.name}: not a readable zip archive (truncated or corrupt?): "
                              f"{type(exc).__name__}: {exc}") from None
        self.infos = {}
        for info in infos:
            if info.filename in self.infos:  # readers disagree on which one counts: torch's may see the other
                raise FormatError(f"{source.name}: the zip archive has two members named {info.filename!r} "
                                  f"(corrupt or crafted archive)")
            self.infos[info.filename] = info
        self.names = list(self.infos)
        self._decompressed = 0  # bytes decompressed from this archive so far (the zip-bomb budget)

    def info(self, name, what):
        try:
            return self.infos[name]
        except KeyError:
            raise FormatError(f"{self.source.name}: {what}: the archive has no member {name!r}") from None

    def _data_offset(self, info, what):
        """Offset of the member's first data byte, from its local header (checked against the file)."""
        header = self.source.read(info.header_offset, _LOCAL_HEADER.size, f"{what} (zip local header)")
        fields = _LOCAL_HEADER.unpack(header)
        if fields[0] != _LOCAL_MAGIC:
            raise FormatError(f"{self.source.name}: {what}: bad zip local header for {info.filename!r}")
        name_len, extra_len = fields[-2], fields[-1]
        name = self.source.read(info.header_offset + _LOCAL_HEADER.size, name_len, f"{what} (zip member name)")
        if name.decode("utf-8", "replace") != info.filename and name.decode("cp437") != info.filename:
            raise FormatError(f"{self.source.name}: {what}: zip local header names {name!r}, the central "
                              f"directory {info.filename!r} (corrupt archive)")
        offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        self.source.check_region(offset, info.compress_size, f"{what} (member {info.filename!r})")
        return offset

    def _check_plain(self, info, what):
        if info.flag_bits & 0x1:
            raise FormatError(f"{self.source.name}: {what}: member {info.filename!r} is encrypted")

    def member_array(self, name, dtype, what, nbytes=None):
        """The member's first `nbytes` bytes (default all) as a 1-D array of `dtype`: a view of the file when
        stored uncompressed, else decompressed into a new array of exactly that size."""
        info = self.info(name, what)
        self._check_plain(info, what)
        nbytes = info.file_size if nbytes is None else nbytes
        if nbytes > info.file_size:
            raise FormatError(f"{self.source.name}: {what} needs {nbytes} bytes but member {name!r} records "
                              f"{info.file_size}")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise FormatError(f"{self.source.name}: {what}: stored member {name!r} records "
                                  f"{info.compress_size} stored but {info.file_size} real bytes")
            return self.source.array(self._data_offset(info, what), nbytes, dtype, what)
        dtype = np.dtype(dtype)
        if nbytes % dtype.itemsize:
            raise FormatError(f"{self.source.name}: {what} has {nbytes} bytes, not a multiple of "
                              f"{dtype.itemsize} ({dtype})")
        return np.frombuffer(self._decompress(info, nbytes, what), dtype=dtype)

    def member_bytes(self, name, limit, what):
        """The member's bytes (its CRC checked), refusing members whose recorded size exceeds `limit`."""
        info = self.info(name, what)
        self._check_plain(info, what)
        if info.file_size > limit:
            raise FormatError(f"{self.source.name}: {what}: member {name!r} records {info.file_size} bytes, "
                              f"more than the {limit} this record may have")
        if info.compress_type == zipfile.ZIP_STORED:
            self.source.check_region(self._data_offset(info, what), info.file_size, what)
        return bytes(self._decompress(info, info.file_size, what))

    def _decompress(self, info, nbytes, what):
        """The first `nbytes` of the member (any compression) read into a new bytearray, chunk by chunk; a
        whole member is read to its end, so zipfile checks its CRC."""
        if info.compress_type != zipfile.ZIP_STORED:
            limit = EXPANSION_LIMIT * self.source.size + EXPANSION_SLACK
            if info.file_size > limit:
                raise FormatError(f"{self.source.name}: {what}: compressed member {info.filename!r} records "
                                  f"{info.file_size} bytes in a file of {self.source.size}, more than "
                                  f"{EXPANSION_LIMIT}x the file: refused (a zip bomb, or a corrupt entry)")
            if self._decompressed + nbytes > limit:
                raise FormatError(f"{self.source.name}: {what}: decompressing member {info.filename!r} would "
                                  f"bring the archive's compressed members to {self._decompressed + nbytes} "
                                  f"bytes from a file of {self.source.size}, more than {EXPANSION_LIMIT}x the "
                                  f"file: refused (a zip bomb spread over members)")
            self._decompressed += nbytes
            self.source.check_region(self._data_offset(info, what), info.compress_size, what)
        buffer = bytearray(nbytes)
        view = memoryview(buffer)
        position = 0
        try:
            with self.zip.open(info) as member:
                while position < nbytes:
                    chunk = member.read(min(_CHUNK, nbytes - position))
                    if not chunk:
                        break
                    view[position:position + len(chunk)] = chunk
                    position += len(chunk)
                if nbytes == info.file_size and position == nbytes:
                    member.read(1)  # to the end: the CRC check
        except ZIP_ERRORS as exc:
            raise FormatError(f"{self.source.name}: {what}: cannot read member {info.filename!r}: "
                              f"{type(exc).__name__}: {exc}") from None
        if position != nbytes:
            raise FormatError(f"{self.source.name}: {what}: member {info.filename!r} holds {position} bytes, its "
                              f"entry records {info.file_size}")
        return buffer

    def open_member(self, name, what):
        """A file object reading the member (for small headers), or FormatError."""
        info = self.info(name, what)
        self._check_plain(info, what)
        try:
            return self.zip.open(info)
        except ZIP_ERRORS as exc:
            raise FormatError(f"{self.source.name}: {what}: cannot read member {name!r}: {exc}") from None

    def data_offset(self, name, what):
        """Offset of a stored member's data in the file (for readers that parse a header first)."""
        info = self.info(name, what)
        self._check_plain(info, what)
        return self._data_offset(info, what)
