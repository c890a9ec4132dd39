"""The two errors a weights file can raise (both subclass ValueError, so `except ValueError` catches them), and
how their messages quote a value from the file.

FormatError      the file is malformed, truncated, or a format (or a tensor kind) fastrnn does not read.
UnsafeFileError  the file asks for something a weights file never needs (a global such as os.system, a code
                 object, a class of the user's program): it was refused before anything in it could run.
"""


class FormatError(ValueError):
    """A malformed, truncated or unsupported weights file (or state dict); the message names the problem."""


class UnsafeFileError(ValueError):
    """A weights file that asks to run code or to build objects a weights file never holds; nothing ran."""


def short_repr(value, limit=80):
    """repr(value) cut to `limit` characters: a hostile file's value quoted in a message stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
