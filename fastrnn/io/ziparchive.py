"""Read members of a zip archive (torch.save files, .npz) as arrays over the file's own bytes, never extracting.

Members are looked up by name in the central directory and read at their recorded offsets inside the one open
file: a member name such as "../x" or "/etc/passwd" is only a dictionary key here, never a path, and nothing is
written anywhere. A stored (uncompressed) member, as torch and numpy write them, becomes a view of the mapped
file (or one read); a compressed member is decompressed once, never past the size its entry records.
"""
import struct
import zipfile
import zlib

import numpy as np

from .errors import FormatError

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header, 30 bytes
_LOCAL_MAGIC = b"PK\x03\x04"


class ZipArchive:
    """The members of the zip file open in `source` (a fastrnn.io.source.Source)."""

    def __init__(self, source):
        self.source = source
        try:
            self.zip = zipfile.ZipFile(source.file)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error) as exc:
            raise FormatError(f"{source.name}: not a readable zip archive (truncated or corrupt?): {exc}") from None
        self.infos = {}
        for info in infos:
            self.infos.setdefault(info.filename, info)
        self.names = list(self.infos)

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

    def member_array(self, name, dtype, what):
        """The whole member `name` as a 1-D array of `dtype` (a view of the file when stored uncompressed)."""
        info = self.info(name, what)
        self._check_plain(info, what)
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise FormatError(f"{self.source.name}: {what}: stored member {name!r} records "
                                  f"{info.compress_size} stored but {info.file_size} real bytes")
            return self.source.array(self._data_offset(info, what), info.file_size, dtype, what)
        data = self.member_bytes(name, info.file_size, what)
        dtype = np.dtype(dtype)
        if len(data) % dtype.itemsize:
            raise FormatError(f"{self.source.name}: {what} has {len(data)} bytes, not a multiple of "
                              f"{dtype.itemsize} ({dtype})")
        return np.frombuffer(bytearray(data), dtype=dtype)

    def member_bytes(self, name, limit, what):
        """The member's bytes, refusing members whose recorded size exceeds `limit`."""
        info = self.info(name, what)
        self._check_plain(info, what)
        if info.file_size > limit:
            raise FormatError(f"{self.source.name}: {what}: member {name!r} records {info.file_size} bytes, "
                              f"more than the {limit} this record may have")
        if info.compress_type == zipfile.ZIP_STORED:
            self.source.check_region(self._data_offset(info, what), info.file_size, what)
        try:
            with self.zip.open(info) as member:
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError, ValueError,
                zlib.error, struct.error) as exc:
            raise FormatError(f"{self.source.name}: {what}: cannot read member {name!r}: {exc}") from None
        if len(data) != info.file_size:
            raise FormatError(f"{self.source.name}: {what}: member {name!r} holds {len(data)} bytes, its entry "
                              f"records {info.file_size}")
        return data

    def open_member(self, name, what):
        """A file object reading the member (for small headers), or FormatError."""
        info = self.info(name, what)
        self._check_plain(info, what)
        try:
            return self.zip.open(info)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError, ValueError,
                zlib.error, struct.error) as exc:
            raise FormatError(f"{self.source.name}: {what}: cannot read member {name!r}: {exc}") from None

    def data_offset(self, name, what):
        """Offset of a stored member's data in the file (for readers that parse a header first)."""
        info = self.info(name, what)
        self._check_plain(info, what)
        return self._data_offset(info, what)
