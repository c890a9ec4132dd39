"""A progress display for training loops: tqdm when it is installed (optional dependency), else a small one.

    bar = progress(range(epochs), desc="train")
    for epoch in bar:
        ...
        bar.set_postfix(loss=loss)
The fallback, Progress, draws one line on stderr (rewritten in place with "\\r", at most every 0.1 s):
    train:  40%|########            | 4/10 [00:02<00:03, 1.95it/s, loss=0.1234]
"""
import numbers
import sys
import time


def progress(iterable=None, total=None, desc=None, file=None, disable=False, use_tqdm=None):
    """A progress bar over iterable (or driven by update(n)): tqdm.auto.tqdm or the fallback Progress.

    use_tqdm: None (default) tqdm when importable, else Progress; True requires tqdm (ImportError without it);
    False always Progress. Both take set_postfix(name=value, ...), update(n), close().
    """
    if use_tqdm is not False:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if use_tqdm:
                raise
        else:
            return tqdm(iterable, total=total, desc=desc, file=file, disable=disable)
    return Progress(iterable, total=total, desc=desc, file=file, disable=disable)


class Progress:
    """A minimal tqdm look-alike: iterate over it or call update(n); set_postfix(**values); close()."""

    def __init__(self, iterable=None, total=None, desc=None, file=None, disable=False, mininterval=0.1, width=20):
        self.iterable = iterable
        self.total = len(iterable) if total is None and hasattr(iterable, "__len__") else total
        self.desc = desc or ""
        self.file = sys.stderr if file is None else file
        self.disable = disable
        self.mininterval, self.width = mininterval, width
        self.n = 0
        self.postfix = ""
        self._start = self._last_draw = time.monotonic()
        self._last_len = 0
        self._closed = False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n=1):
        """Advance by n items; redraws when mininterval has passed or the total is reached."""
        self.n += n
        now = time.monotonic()
        if now - self._last_draw >= self.mininterval or self.n == self.total:
            self._draw(now)

    def set_postfix(self, refresh=True, **values):
        """Show `name=value` pairs after the counters (floats with 4 significant digits)."""
        self.postfix = ", ".join(f"{k}={v:.4g}" if _is_float(v) else f"{k}={v}" for k, v in values.items())
        if refresh:
            self._draw(time.monotonic())

    def set_description(self, desc):
        self.desc = desc or ""

    def close(self):
        """Draw the final state and end the line (once)."""
        if not self._closed:
            self._closed = True
            self._draw(time.monotonic())
            if not self.disable:
                self.file.write("\n")
                self.file.flush()

    def format(self, elapsed):
        """The status line after `elapsed` seconds."""
        rate = self.n / elapsed if elapsed > 0 else 0.0
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            frac = min(self.n / self.total, 1.0)
            bar = "#" * int(frac * self.width)
            remaining = _clock((self.total - self.n) / rate) if rate > 0 else "?"
            line = (f"{head}{frac:4.0%}|{bar:<{self.width}}| {self.n}/{self.total} "
                    f"[{_clock(elapsed)}<{remaining}, {rate:.2f}it/s")
        else:
            line = f"{head}{self.n}it [{_clock(elapsed)}, {rate:.2f}it/s"
        return line + (f", {self.postfix}]" if self.postfix else "]")

    def _draw(self, now):
        if self.disable:
            return
        line = self.format(now - self._start)
        self.file.write("\r" + line + " " * max(self._last_len - len(line), 0))
        self.file.flush()
        self._last_len, self._last_draw = len(line), now


def _is_float(value):
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)


def _clock(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes:02d}:{seconds:02d}"
