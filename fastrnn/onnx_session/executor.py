"""The plan's steps as one straight-line Python function, made once at load (and once per stream):

    def execute(v1, v2):                  # the graph inputs, in order
        v5 = f0(v1, c3)                   # one line per step: f<k> its function, c<slot> a constant
        v6, v7 = f1(v5, None, v2)         # None: an absent optional input
        return (v7, v6)                   # every graph output, in order

Locals instead of a list of values and no loop: the executor's own cost per node is one call (about 0.1 us),
which is what keeps a B=1, T=1 call of a small model in microseconds. The code holds only slot numbers and names
made here (no text from the file). An error inside a step is traced back to its line, hence its node.
"""
FILENAME = "<fastrnn.InferenceSession plan>"
_FIRST_STEP_LINE = 2   # line 1 is the def


def compile_steps(steps, input_slots, output_slots, initial, functions=None):
    """(execute, nodes by line): `steps` [(function, input slots, output slots, node)], constants in `initial`
    (slot -> value or None); `functions` replaces steps' functions by index (a stream's carrying ones)."""
    namespace, lines = {}, []
    defined = set(input_slots)
    for k, (function, ins, outs, node) in enumerate(steps):
        namespace[f"f{k}"] = functions.get(k, function) if functions else function
        args = ", ".join(_operand(slot, initial, namespace, defined) for slot in ins)
        targets = ", ".join(f"v{slot}" for slot in outs)
        lines.append(f"    {targets} = f{k}({args})")
        defined.update(outs)
    results = ", ".join(_operand(slot, initial, namespace, defined) for slot in output_slots)
    source = (f"def execute({', '.join(f'v{slot}' for slot in input_slots)}):\n" + "\n".join(lines)
              + ("\n" if lines else "") + f"    return ({results}{',' if len(output_slots) == 1 else ''})\n")
    exec(compile(source, FILENAME, "exec"), namespace)   # noqa: S102 - code made here from slot numbers only
    return namespace["execute"], [node for _, _, _, node in steps]


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
            index = tb.tb_lineno - _FIRST_STEP_LINE
            node = nodes[index] if 0 <= index < len(nodes) else None
        tb = tb.tb_next
    return node
