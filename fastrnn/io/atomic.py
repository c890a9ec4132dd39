"""Write a file whole or not at all: into a temporary file beside it, renamed over the target at the end.

So a failed write never leaves a half-written file, and writing over the very file whose arrays are still
memory-mapped (fastrnn.load(...) then save to the same path) replaces it instead of truncating the mapping.

Destinations: a path that does not exist, or an existing regular file (replaced). Anything else that exists is
refused before a byte is written (a directory: IsADirectoryError; a named pipe, device, socket:
FileExistsError), so `fastrnn convert m.pt /dev/null` never replaces a device node. A symbolic link is written
through: the file it points to is replaced (in the target's directory) and the link keeps pointing at it; a
link to something that is not a regular file is refused as that thing would be.
"""
import os
import secrets
import stat


class atomic_write:
    """`with atomic_write(path) as f: f.write(...)`: f is a binary file; `path` appears only on success.

    Each write has its own temporary file (a random name, created exclusively), so concurrent saves to one
    path from several threads or processes each rename a whole file: the last one wins, none is mixed."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.target = os.path.realpath(self.path)   # through symbolic links
        directory = os.path.dirname(self.target)
        self.tmp = os.path.join(directory, f".{os.path.basename(self.target)}.{secrets.token_hex(8)}.tmp")

    def _check_destination(self):
        """Refuse a destination that exists and is not a regular file (see the module docstring)."""
        try:
            mode = os.stat(self.target).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISREG(mode):
            return
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{self.path} is a directory; give the path of the file to write")
        kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode) else
                "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise FileExistsError(f"{self.path} exists and is {kind}, not a regular file: weights are written only to "
                              f"a new path or over a regular file")

    def __enter__(self):
        self._check_destination()
        self.file = open(self.tmp, "xb")
        return self.file

    def __exit__(self, exc_type, *exc):
        self.file.close()
        try:
            if exc_type is None:
                self._check_destination()   # again: it may have been made a pipe while we wrote
                os.replace(self.tmp, self.target)
                return
        except BaseException:
            self._remove_tmp()
            raise
        self._remove_tmp()

    def _remove_tmp(self):
        try:
            os.remove(self.tmp)
        except OSError:
            pass
