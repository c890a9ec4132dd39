"""`python -m fastrnn inspect FILE` and `python -m fastrnn convert FILE OUT` (dispatched by fastrnn.__main__).

Exit codes: 0 done; 2 the file cannot be read or is not a weights file fastrnn reads (FormatError,
UnsafeFileError, OSError, or ImportError of an optional extra: the message on stderr says which); 1 anything
else (a bug: the traceback is printed).
"""
import os
import sys
import textwrap
import traceback

from .errors import FormatError, UnsafeFileError

_OTHERS_SHOWN = 40
_WIDTH = 80                      # every line fits a classic terminal (long file names and keys aside)
# Layer options left out of a layer's line when they have these values (the constructors' defaults)
_DEFAULT_OPTIONS = {"num_layers": 1, "bias": True, "bidirectional": False, "proj_size": 0, "peephole": False}


def _fail(exc):
    kind = "refused (unsafe file)" if isinstance(exc, UnsafeFileError) else "error"
    print(f"fastrnn: {kind}: {exc}", file=sys.stderr)
    return 2


def _size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000


def _line(text, indent="      "):
    """text wrapped at _WIDTH columns at spaces, its continuation lines indented."""
    return textwrap.fill(text, _WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def _layer(mode, config):
    """A layer's configuration as its constructor call, defaults left out: LSTM(32, 128, num_layers=2)."""
    options = [f"{k}={v}" for k, v in config.items() if k not in ("input_size", "hidden_size")
               and _DEFAULT_OPTIONS.get(k, object()) != v]
    return f"{mode}({', '.join([str(config.get('input_size')), str(config.get('hidden_size')), *options])})"


def _how_to_load(mode, path, prefix):
    """The call that builds the layer, on two lines."""
    return (f"      layer = fastrnn.{mode}.from_state_dict(\n"
            f"          fastrnn.load({os.fspath(path)!r}), prefix={prefix!r})")


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _run(job):
    try:
        return job()
    except (FormatError, UnsafeFileError, OSError, ImportError) as exc:  # ImportError: an optional extra
        return _fail(exc)
    except Exception:  # noqa: BLE001 - a bug: say so with the traceback
        traceback.print_exc()
        print("fastrnn: internal error (please report it with the traceback above)", file=sys.stderr)
        return 1


def inspect_main(path):
    """Print the tensors (name, dtype, shape), other entries, and the recurrent layers of a weights file."""
    return _run(lambda: _inspect(path))


def _inspect(path):
    from .infer import find_recurrent_layers
    from .load import load_with_format
    from .onnx_import import looks_like_onnx
    from .tree import flatten

    from .source import check_regular_file
    with open(check_regular_file(path), "rb") as f:   # (a named pipe would block the open)
        if looks_like_onnx(f.read(16)):
            return _inspect_onnx(path)
    obj, fmt, extra = load_with_format(path)
    arrays, others = flatten(obj)
    total = sum(a.nbytes for a in arrays.values())
    print(f"{path}: {fmt}, {len(arrays)} tensors, {_size(total)}")
    for key, value in (extra.get("metadata") or {}).items():
        print(f"  metadata {key} = {_short(value)}")
    if arrays:
        width = max(len(k) for k in arrays)
        print("tensors:")
        for key, arr in arrays.items():
            print(f"  {key or '(the file)':<{width}}  {str(arr.dtype):<8} {tuple(arr.shape)}")
    if others:
        print("other entries:")
        for key, value in list(others.items())[:_OTHERS_SHOWN]:
            print(f"  {key} = {_short(value)}")
        if len(others) > _OTHERS_SHOWN:
            print(f"  ... and {len(others) - _OTHERS_SHOWN} more")
    quantized, arrays = _quantized_layers(arrays, path)
    layers = find_recurrent_layers(arrays)
    if not layers:
        if not quantized:
            print("recurrent layers: none found")
        return 0
    print("recurrent layers:")
    for entry in layers:
        prefix = entry["prefix"]
        if entry["mode"] is None:
            print(_line(f"  {prefix or '(top level)'}  not loadable: {entry['error']}"))
            continue
        cell = f" ({entry['mode']}Cell)" if entry["cell"] else ""
        print(_line(f"  {prefix or '(top level)'}  {_layer(entry['mode'], entry['config'])}{cell}"))
        if entry.get("note"):
            print(_line(f"      note: {entry['note']}", indent="            "))
        print(_how_to_load(entry["mode"], path, prefix))
    return 0


def _quantized_layers(arrays, path):
    """Print the quantized layers among arrays (fastrnn/quant/describe.py); returns (them, the other arrays)."""
    from ..quant.describe import quantized_layers

    entries, rest = quantized_layers(arrays)
    if entries:
        print("quantized recurrent layers:")
    for entry in entries:
        prefix = entry["prefix"]
        if "error" in entry:
            print(_line(f"  {prefix or '(top level)'}  not loadable: {entry['error']}"))
            continue
        print(_line(f"  {prefix or '(top level)'}  {_layer(entry['mode'], entry['config'])}, {entry['format']} "
                    f"weights with per-row scales ({entry['source']})"))
        print(_how_to_load(entry["mode"], path, prefix))
    return entries, rest


def _inspect_onnx(path):
    """Print the recurrent nodes of an ONNX file (their configuration and the fastrnn layer each gives) and
    the op types of the nodes from_onnx skips."""
    from .onnx_import import read_onnx

    layers, descriptions, skipped = read_onnx(path)
    print(f"{path}: ONNX model, {len(layers)} recurrent node(s)")
    for entry in descriptions:
        config = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("name", "op", "layer") and v is not None)
        print(_line(f"  {entry['name']}  {entry['op']}  {config}"))
        print(_line(f"      -> {entry['layer']}", indent="         "))
    if skipped:
        print(_line("other nodes (not imported): " + ", ".join(f"{op} x{n}" if n > 1 else op
                                                                for op, n in skipped.items()), indent="  "))
    if layers:
        print(f"load: layers = fastrnn.from_onnx({os.fspath(path)!r})\n      layers[name](x, hx, lengths)")
    return 0


def _same_file(src, dst):
    """True if writing `dst` would replace `src`: the same path, or a link (symbolic or hard) to the same file."""
    try:
        return os.path.samefile(src, dst)
    except OSError:  # one of them does not exist: different files
        return False


def convert_main(src, dst):
    """Write the tensors of `src` (any format `load` reads) to `dst`: safetensors, or .npz by extension.
    Nested checkpoints are flattened with "."; entries that are not tensors (epoch, learning rates) are left
    out and listed on stderr."""
    return _run(lambda: _convert(src, dst))


def _convert(src, dst):
    from .load import load, save
    from .tree import flatten

    if _same_file(src, dst):
        print(f"fastrnn: error: {dst} is {src} itself (the same file, through a link or another path); "
              f"converting would replace the input: choose another output", file=sys.stderr)
        return 2
    arrays, others = flatten(load(src))
    if not arrays:
        raise FormatError(f"{src}: holds no tensors to convert")
    if others:
        names = ", ".join(list(others)[:10]) + (" ..." if len(others) > 10 else "")
        print(f"fastrnn: note: left out {len(others)} entries that are not tensors: {names}", file=sys.stderr)
    save(dst, arrays)
    fmt = "npz" if os.fspath(dst).lower().endswith(".npz") else "safetensors"
    print(f"wrote {len(arrays)} tensors ({_size(sum(a.nbytes for a in arrays.values()))}) to {dst} ({fmt})")
    return 0
