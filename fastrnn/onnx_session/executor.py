"""The plan's steps as one straight-line Python function, made once at load (and once per stream):

    def execute(v1, v2):                  # the graph inputs, in order
        v5 = f0(v1, c3)                   # one line per step: f<k> its function, c<slot> a constant
        v6, v7 = f1(v5, None, v2)         # None: an absent optional input
        return (v7, v6)                   # every graph output, in order

Locals instead of a list of values and no loop: the executor's own cost per node is one call (about 0.1 us),
which is what keeps a B=1, T=1 call of a small model in microseconds. The code holds only slot numbers and names
made here (no text from the file). An error inside a step is traced back to its line, hence its node.

When some steps depend only on the inputs' shapes (fastrnn/onnx_session/shapes.py), the function keys a
ShapeCache on those shapes and runs them only on a cache miss:

    def execute(v1, v2):
        key = (v1.shape, v2.shape)
        known = lookup(key)
        if known is None:
            v3 = f0(v1)                   # every step, in order
            ...
            remember(key, (v3,))          # the static results later steps read
        else:
            v3, = known
            ...                           # the other steps only
        return (...)
"""
from .shapes import ShapeCache

FILENAME = "<fastrnn.InferenceSession plan>"


def compile_steps(steps, input_slots, output_slots, initial, functions=None, static=()):
    """(execute, {line: node}): `steps` [(function, input slots, output slots, node)], constants in `initial`
    (slot -> value or None); `functions` replaces steps' functions by index (a stream's carrying ones);
    `static` the indices of the steps computed from the inputs' shapes alone (kept per shapes: their values
    come from Shape and Size, which read no dtype)."""
    namespace, lines, nodes = {}, [], {}
    arguments = ", ".join(f"v{slot}" for slot in input_slots)
    defined = set(input_slots)

    def emit(k, indent):
        function, ins, outs, node = steps[k]
        namespace[f"f{k}"] = functions.get(k, function) if functions else function
        args = ", ".join(_operand(slot, initial, namespace, defined) for slot in ins)
        lines.append(f"{indent}{', '.join(f'v{slot}' for slot in outs)} = f{k}({args})")
        nodes[len(lines) + 1] = node   # + 1: the def is line 1
        defined.update(outs)

    kept = _kept_slots(steps, output_slots, set(static)) if input_slots else []
    if kept:
        shapes = [f"v{slot}.shape" for slot in input_slots]
        cache = ShapeCache()
        namespace.update(lookup=cache.get, remember=cache.remember)
        lines += [f"    key = ({', '.join(shapes)},)", "    known = lookup(key)", "    if known is None:"]
        for k in range(len(steps)):
            emit(k, "        ")
        kept_tuple = "(" + "".join(f"v{slot}, " for slot in kept) + ")"
        lines += [f"        remember(key, {kept_tuple})", "    else:", f"        {kept_tuple} = known"]
        for k in range(len(steps)):
            if k not in static:
                emit(k, "        ")
    else:
        for k in range(len(steps)):
            emit(k, "    ")
    results = ", ".join(_operand(slot, initial, namespace, defined) for slot in output_slots)
    source = (f"def execute({arguments}):\n" + "\n".join(lines) + ("\n" if lines else "")
              + f"    return ({results}{',' if len(output_slots) == 1 else ''})\n")
    exec(compile(source, FILENAME, "exec"), namespace)   # noqa: S102 - code made here from slot numbers only
    return namespace["execute"], nodes


def _kept_slots(steps, output_slots, static):
    """The results of static steps that a non-static step or an output reads, in slot order."""
    made = {slot for k in static for slot in steps[k][2]}
    read = set(output_slots)
    for k, (_, ins, _, _) in enumerate(steps):
        if k not in static:
            read.update(ins)
    return sorted(made & read)


def _operand(slot, initial, namespace, defined):
    if slot == 0:
        return "None"
    if slot in defined:
        return f"v{slot}"
    namespace[f"c{slot}"] = initial[slot]
    return f"c{slot}"


def failing_node(exc, nodes):
    """The node whose step raised `exc`, from the line of the plan's code in its traceback (None if none)."""
    tb = exc.__traceback__
    node = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            node = nodes.get(tb.tb_lineno)
        tb = tb.tb_next
    return node
