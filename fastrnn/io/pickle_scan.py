"""Walk a pickle's opcodes without running it, before the C unpickler sees it.

The C unpickler trusts two kinds of numbers enough to allocate by them before reading: the length of
BINBYTES / BINBYTES8 / BYTEARRAY8 data (a buffer of that size is allocated, then filled), and memo indices
(PUT / LONG_BINPUT: the memo table grows to twice the index and is zero-filled; 13 bytes of pickle can make it
touch a gigabyte). This scan finds the pickle's end, refuses unknown opcodes, lengths that reach past the data,
memo indices larger than the pickle could number, and out-of-band buffers (protocol 5), in one pass over the
bytes with a table built from pickletools' opcode descriptions.
"""
import pickletools
import struct

from .errors import FormatError


def _opcode_table():
    """{opcode byte: (kind, size)}: kind 0 no argument, 1 fixed size, 2 newline-terminated lines (size = how many),
    3 length-prefixed (size = width of the length field; struct format in _LENGTHS)."""
    table = {}
    for op in pickletools.opcodes:
        arg = op.arg
        if arg is None:
            entry = (0, 0)
        elif arg.n >= 0:
            entry = (1, arg.n)
        elif arg.n == pickletools.UP_TO_NEWLINE:
            entry = (2, 2 if op.name in ("GLOBAL", "INST") else 1)
        else:
            entry = (3, {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
                         pickletools.TAKEN_FROM_ARGUMENT4U: -4, pickletools.TAKEN_FROM_ARGUMENT8U: 8}[arg.n])
        table[op.code.encode("latin-1")[0]] = entry
    return table


_OPCODES = _opcode_table()
_LENGTHS = {1: struct.Struct("<B"), 4: struct.Struct("<i"), -4: struct.Struct("<I"), 8: struct.Struct("<Q")}
_STOP, _OUT_OF_BAND = ord("."), {0x97, 0x98}  # NEXT_BUFFER, READONLY_BUFFER
_PUT, _LONG_BINPUT = ord("p"), ord("r")


def _check_memo_index(index, end, name):
    """The C unpickler sizes (and zero-fills) its memo table to twice the largest PUT index: a pickle of `end`
    bytes numbers at most `end` objects, so a larger index is a memory bomb, not data."""
    if not 0 <= index < end:
        raise FormatError(f"{name}: the pickle is malformed: memo index {index} in a pickle of {end} bytes")


def prescan(data, name):
    """Walk the opcodes of a pickle without running it; returns the offset just past its STOP.

    Refuses unknown opcodes, length fields that reach past the data (before the C unpickler could allocate the
    declared size: it allocates BINBYTES/BYTEARRAY8 buffers before reading them), memo indices that would make
    it allocate a huge memo table, and out-of-band buffers."""
    table, lengths, end = _OPCODES, _LENGTHS, len(data)
    pos = 0
    while pos < end:
        code = data[pos]
        pos += 1
        entry = table.get(code)
        if entry is None:
            raise FormatError(f"{name}: the pickle is malformed: unknown opcode {code:#04x} at byte {pos - 1}")
        kind, size = entry
        if kind == 1:
            if code == _LONG_BINPUT and pos + 4 <= end:
                _check_memo_index(_LENGTHS[-4].unpack_from(data, pos)[0], end, name)
            pos += size
        elif kind == 3:
            width = abs(size)
            if pos + width > end:
                break
            length = lengths[size].unpack_from(data, pos)[0]
            if length < 0:
                raise FormatError(f"{name}: the pickle is malformed: negative length at byte {pos}")
            pos += width + length
        elif kind == 2:
            start = pos
            for _ in range(size):
                newline = data.find(b"\n", pos)
                if newline < 0:
                    pos = end + 1
                    break
                pos = newline + 1
            if code == _PUT and pos <= end:
                try:
                    index = int(data[start:pos - 1])
                except ValueError:
                    raise FormatError(f"{name}: the pickle is malformed: bad PUT index at byte {start}") from None
                _check_memo_index(index, end, name)
        elif code == _STOP:
            return pos
        elif code in _OUT_OF_BAND:
            raise FormatError(f"{name}: the pickle uses out-of-band buffers, which a torch file never does")
    raise FormatError(f"{name}: the pickle is truncated (a length or the STOP opcode reaches past its "
                      f"{end} bytes)")
