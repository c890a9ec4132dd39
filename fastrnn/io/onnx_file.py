"""Reading an ONNX file (or its bytes) into a ModelProto that fastrnn trusts: what from_onnx and InferenceSession
both start from.

Checked here, whatever the installed onnx would let through:
- every text field of the file (names, op types, domains) is UTF-8: protobuf hands a non-UTF-8 string field back
  as bytes, which would surface as a TypeError far away;
- every value name is defined once (initializers, Constant nodes, node outputs): ONNX Runtime 1.32 resolves a
  duplicate differently per op (an Add reads the last initializer of a name, an LSTM's weights the first, and a
  Constant node that shadows an initializer wins for the Add and loses for the LSTM), so there is no rule to
  follow: the file is refused, naming the duplicate;
- external data is read by fastrnn itself: a relative `location` that resolves (symbolic links followed) inside
  the model's folder, to a regular file, `offset` and `length` inside it. Older onnx releases read
  `../../secret` into a weight.
`stored_bytes` is what the file and its external data hold: the budget of constant folding is a multiple of it.
"""
import os
import stat

from .errors import FormatError

_EXTERNAL_KEYS = {"location", "offset", "length", "checksum", "basepath"}


def load_model(onnx, source):
    """(ModelProto, stored bytes) of `source`: a path, or the serialized model as bytes (no external data then)."""
    from google.protobuf.message import DecodeError
    from .source import check_regular_file

    if isinstance(source, (bytes, bytearray, memoryview)):
        label, folder, data = "the model bytes", None, bytes(source)
    else:
        path = check_regular_file(source)  # an int would be a file descriptor, which open() reads and closes
        label, folder = os.fspath(path), os.path.dirname(os.path.abspath(path))
        with open(path, "rb") as f:
            data = f.read()
    try:
        model = onnx.ModelProto.FromString(data)
    except DecodeError as exc:
        raise FormatError(f"{label}: not an ONNX model (it starts with {data[:16]!r}): {exc}") from None
    if model.ir_version < 1 or not model.HasField("graph"):
        raise FormatError(f"{label}: not an ONNX model (no IR version or graph; it starts with {data[:16]!r})")
    external = []
    _walk(model, "model", external, label)
    _check_unique_names(model.graph, label)
    stored = len(data) + sum(_read_external(onnx, tensor, folder, label) for tensor in external)
    return model, stored


def _walk(message, where, external, label):
    """Check every string field under `message` is text; collect the tensors whose data is external."""
    from google.protobuf.descriptor import FieldDescriptor

    if getattr(message, "DESCRIPTOR", None) is not None and message.DESCRIPTOR.name == "TensorProto" \
            and message.data_location == message.EXTERNAL:
        external.append(message)
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_STRING:
            for k, text in enumerate(value if _repeated(field) else [value]):
                if not isinstance(text, str):
                    at = f"{where}.{field.name}" + (f"[{k}]" if _repeated(field) else "")
                    raise FormatError(f"{label}: {at} is not UTF-8 text: {bytes(text)[:40]!r}")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if _repeated(field):
                for k, item in enumerate(value):
                    _walk(item, f"{where}.{field.name}[{k}]", external, label)
            else:
                _walk(value, f"{where}.{field.name}", external, label)


def _repeated(field):
    if hasattr(field, "is_repeated"):     # protobuf >= 6 (`label` is gone from its upb descriptors)
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def _check_unique_names(graph, label):
    """FormatError when a value name is defined twice in the main graph (see the module's docstring)."""
    definitions = {}
    for tensor in graph.initializer:
        definitions.setdefault(tensor.name, []).append("an initializer")
    for tensor in graph.sparse_initializer:
        definitions.setdefault(tensor.values.name, []).append("a sparse initializer")
    for index, node in enumerate(graph.node):
        for output in node.output:
            if output:
                definitions.setdefault(output, []).append(f"{node.op_type} node {node.name or index!r}")
    initializers = {t.name for t in graph.initializer}
    for value in graph.input:
        if value.name not in initializers:   # an input with an initializer is that initializer's default
            definitions.setdefault(value.name, []).append("a graph input")
    for name, where in definitions.items():
        if len(where) > 1:
            raise FormatError(f"{label}: the value {name!r} is defined {len(where)} times ({', '.join(where)}); "
                              f"which one a runtime uses is ambiguous (ONNX Runtime picks differently per op), "
                              f"so fastrnn refuses the file: give each value one definition")


def _read_external(onnx, tensor, folder, label):
    """Read `tensor`'s external data into it after fastrnn's own checks; returns the bytes read."""
    entries = {}
    for entry in tensor.external_data:
        if entry.key not in _EXTERNAL_KEYS:
            raise FormatError(f"{label}: tensor {tensor.name!r}: unknown external data key {entry.key!r}")
        entries[entry.key] = entry.value
    what = f"{label}: tensor {tensor.name!r}: external data"
    if folder is None:
        raise FormatError(f"{what}: a model given as bytes cannot refer to external files; pass its path")
    location = entries.get("location", "")
    if not location or os.path.isabs(location) or "\0" in location:
        raise FormatError(f"{what}: location {location!r} is not a relative path inside the model's folder")
    root = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, target]) != root or target == root:
        raise FormatError(f"{what}: location {location!r} resolves to {target}, outside the model's folder {root}")
    try:
        info = os.stat(target)
    except OSError as exc:
        raise FormatError(f"{what}: location {location!r} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise FormatError(f"{what}: location {location!r} is not a regular file")
    try:
        offset = int(entries.get("offset", "0"))
        length = int(entries["length"]) if "length" in entries else info.st_size - offset
    except ValueError:
        raise FormatError(f"{what}: offset {entries.get('offset')!r} / length {entries.get('length')!r} are not "
                          f"integers") from None
    if offset < 0 or length < 0 or offset + length > info.st_size:
        raise FormatError(f"{what}: offset {offset} + length {length} is outside {location!r} "
                          f"({info.st_size} bytes)")
    with open(target, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise FormatError(f"{what}: {location!r} changed while it was read")
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT
    tensor.raw_data = data
    return length
