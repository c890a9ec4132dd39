"""Write a file whole or not at all: into a temporary file beside it, renamed over the target at the end.

So a failed write never leaves a half-written file, and writing over the very file whose arrays are still
memory-mapped (fastrnn.load(...) then save to the same path) replaces it instead of truncating the mapping.
"""
import os
import secrets


class atomic_write:
    """`with atomic_write(path) as f: f.write(...)`: f is a binary file; `path` appears only on success.

    Each write has its own temporary file (a random name, created exclusively), so concurrent saves to one
    path from several threads or processes each rename a whole file: the last one wins, none is mixed."""

    def __init__(self, path):
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        self.tmp = os.path.join(directory, f".{os.path.basename(self.path)}.{secrets.token_hex(8)}.tmp")

    def __enter__(self):
        if os.path.isdir(self.path):   # else the data would go to a temporary file in its parent, left there
            raise IsADirectoryError(f"{self.path} is a directory; give the path of the file to write")
        self.file = open(self.tmp, "xb")
        return self.file

    def __exit__(self, exc_type, *exc):
        self.file.close()
        try:
            if exc_type is None:
                os.replace(self.tmp, self.path)
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
