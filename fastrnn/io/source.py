"""Bounds-checked access to the bytes of one weights file: every array is a view of one read (or one mapping).

A Source opens the file once. With mmap=True (the default of fastrnn.load) the file is mapped copy-on-write
(mmap.ACCESS_COPY, like torch.load(mmap=True)): arrays are views of the mapping, pages are read when first
touched, writing into an array changes only this process's copy, never the file. With mmap=False each region is
read once into its own writable buffer. Every region is checked against the file size before anything is read
or allocated, so a declared size larger than the file raises FormatError instead of allocating it.

Caveat of mmap=True (shared with numpy.load(mmap_mode=...) and torch.load(mmap=True)): if another program
truncates the file while the arrays are alive, touching them faults; use mmap=False when that can happen.
"""
import mmap as _mmap
import os
import stat

import numpy as np

from .errors import FormatError

MAX_DIMS = 32  # NumPy 1.x's limit; no weights tensor comes near it


def check_shape(shape, itemsize, what):
    """Raise FormatError unless `shape` (non-negative ints) is one NumPy can hold: at most MAX_DIMS axes, and
    a size in bytes that fits in an index even when another axis is 0 (as NumPy requires)."""
    if len(shape) > MAX_DIMS:
        raise FormatError(f"{what} has {len(shape)} dimensions; at most {MAX_DIMS} are read")
    nonzero = 1
    for n in shape:
        nonzero *= max(n, 1)
    if nonzero * itemsize >= 1 << 62:
        raise FormatError(f"{what} has shape {tuple(shape)}, too large for any array (corrupt file)")


def check_regular_file(path):
    """os.fspath(path), after refusing (FormatError) a pipe or a device: opening a named pipe blocks until a
    writer comes, and a device such as /dev/zero never ends. An int (a file descriptor) is a TypeError."""
    name = os.fspath(path)
    mode = os.stat(name).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):   # (open() of a directory raises IsADirectoryError)
        raise FormatError(f"{name}: not a regular file (a pipe or a device); fastrnn reads weights files")
    return name


class Source:
    """One open weights file. `name` is used in error messages; `size` is the file size in bytes."""

    def __init__(self, path, use_mmap=True):
        self.name = check_regular_file(path)
        self.file = open(self.name, "rb")
        try:
            self.size = os.fstat(self.file.fileno()).st_size
            self._map = None
            if use_mmap and self.size > 0:
                try:
                    self._map = _mmap.mmap(self.file.fileno(), 0, access=_mmap.ACCESS_COPY)
                except (OSError, ValueError):  # not mappable (a pipe, some file systems): read instead
                    self._map = None
        except BaseException:
            self.file.close()
            raise

    def close(self):
        """Close the file. Arrays already returned stay valid (they hold the mapping or their own buffer)."""
        self.file.close()
        self._map = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def check_region(self, offset, nbytes, what):
        """Raise FormatError unless [offset, offset + nbytes) lies inside the file."""
        if offset < 0 or nbytes < 0 or offset + nbytes > self.size:
            raise FormatError(f"{self.name}: {what} needs bytes [{offset}, {offset + nbytes}) but the file has "
                              f"{self.size} bytes (truncated or corrupt file)")

    def read(self, offset, nbytes, what):
        """bytes [offset, offset + nbytes) of the file (for headers and other small records)."""
        self.check_region(offset, nbytes, what)
        self.file.seek(offset)
        data = self.file.read(nbytes)
        if len(data) != nbytes:
            raise FormatError(f"{self.name}: {what}: the file ended early (it changed while being read?)")
        return data

    def array(self, offset, nbytes, dtype, what):
        """A 1-D array of `dtype` over bytes [offset, offset + nbytes): a view of the mapping, or one read."""
        dtype = np.dtype(dtype)
        self.check_region(offset, nbytes, what)
        if nbytes % dtype.itemsize:
            raise FormatError(f"{self.name}: {what} has {nbytes} bytes, not a multiple of {dtype.itemsize} "
                              f"({dtype})")
        count = nbytes // dtype.itemsize
        if self._map is not None:
            return np.frombuffer(self._map, dtype=dtype, count=count, offset=offset)
        buf = bytearray(nbytes)
        self.file.seek(offset)
        got = self.file.readinto(buf)
        if got != nbytes:
            raise FormatError(f"{self.name}: {what}: the file ended early (it changed while being read?)")
        return np.frombuffer(buf, dtype=dtype, count=count)
