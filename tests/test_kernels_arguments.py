"""The compiled entry points (fastrnn._kernels) check what the C code will read through pointers, each bad call
beside a valid one: None where an array, a cell or a list is read (a TypeError; all_finite(None) crashed the
interpreter); arrays of the wrong shape, dtype, layout or byte order for the forward and backward loops (a
ValueError naming the argument, where x or batch_sizes used to be read past their end); cells and quantized cells
whose parameters do not make their mode's gates; step runners whose cells do not stack; foreign objects where a
compiled cell or runner is cast."""
import numpy as np
import pytest

import fastrnn
from fastrnn import _kernels

F = np.float32


def _calls():
    """(name, call with every typed argument valid) for each entry point, and the positions to set to None."""
    cell = fastrnn.LSTM(4, 3, seed=0)._current_cells()[0]
    x, h, c = np.ones((2, 1, 4), F), np.zeros((1, 3), F), np.zeros((1, 3), F)
    sizes, out = np.full(2, 1, np.intp), np.empty((2, 1, 3), F)
    a, w = np.ones((2, 3), F), np.ones((4, 3), F)
    return {
        "forward_direction": (_kernels.forward_direction, [cell, x, h, c, sizes, False, out, 0], [0, 1, 2, 4, 6]),
        "run_directions": (_kernels.run_directions, [[cell], x, h[None], c[None], sizes, out], [0, 1, 2, 4, 5]),
        "forward_pair": (_kernels.forward_pair, [[cell, cell], x, np.zeros((2, 1, 3), F), np.zeros((2, 1, 3), F),
                                                 sizes, np.empty((2, 1, 6), F)], [0, 1, 2, 4, 5]),
        "plan": (_kernels.plan, [cell, 2, 1], [0]),
        "directions_at_once": (_kernels.directions_at_once, [cell, 2, 1], [0]),
        "fingerprint": (_kernels.fingerprint, [a], [0]),
        "all_finite": (_kernels.all_finite, [a], [0]),
        "packed_gemm_nt": (_kernels.packed_gemm_nt, [a, w, np.empty((2, 4), F), False], [0, 1, 2]),
        "softmax_rows": (_kernels.softmax_rows, [a, np.empty_like(a), False], [0, 1]),
        "layer_norm_rows": (_kernels.layer_norm_rows, [a, np.ones(3, F), None, 1e-5, np.empty_like(a)], [0, 1, 4]),
        "sigmoid_array": (_kernels.sigmoid_array, [a, np.empty_like(a)], [0, 1]),
        "linear": (_kernels.linear, [a, w, None], [1]),
        "linear_rows": (_kernels.linear_rows, [a, w, None, np.empty((2, 4), F)], [0, 1, 3]),
    }


@pytest.mark.parametrize("name", sorted(_calls()))
def test_none_is_refused_where_an_array_or_cell_is_read(name):
    function, args, typed = _calls()[name]
    function(*args)   # the valid call runs
    for position in typed:
        bad = list(args)
        bad[position] = None
        with pytest.raises(TypeError, match="incorrect type"):
            function(*bad)


def _bad_forward_arguments():
    """(label, x, h, c, batch_sizes, out, col0, message) for a cell of I 4, H 3, B 1, T 2."""
    x, h, c = np.ones((2, 1, 4), F), np.zeros((1, 3), F), np.zeros((1, 3), F)
    sizes, out = np.full(2, 1, np.intp), np.empty((2, 1, 3), F)
    read_only = np.zeros((1, 3), F)
    read_only.flags.writeable = False
    return [
        ("x of another input size", np.ones((2, 1, 5), F), h, c, sizes, out, 0, r"x must be .* \(any, any, 4\)"),
        ("x of another dtype", x.astype(np.float64), h, c, sizes, out, 0, "x must be"),
        ("x of 2 dims", np.ones((2, 4), F), h, c, sizes, out, 0, "x must be"),
        ("x in the other byte order", x.astype(">f4"), h, c, sizes, out, 0, "x must be"),
        ("x strided", np.ones((4, 1, 4), F)[::2], h, c, sizes, out, 0, "x must be"),
        ("h too small", x, np.zeros((1, 2), F), c, sizes, out, 0, r"h must be .* \(1, 3\)"),
        ("h read-only", x, read_only, c, sizes, out, 0, "h must be a C-contiguous writeable"),
        ("c missing", x, h, None, sizes, out, 0, "c must be an array; got NoneType"),
        ("c too small", x, h, np.zeros((1, 2), F), sizes, out, 0, "c must be"),
        ("batch_sizes short", x, h, c, np.full(1, 1, np.intp), out, 0, r"batch_sizes must be .* \(2,\)"),
        ("batch_sizes of int32", x, h, c, np.full(2, 1, np.int32), out, 0, "batch_sizes must be"),
        ("batch_sizes past B", x, h, c, np.full(2, 5, np.intp), out, 0, r"non-increasing in \[0, 1\]"),
        ("batch_sizes increasing", x, h, c, np.array([0, 1], np.intp), out, 0, "non-increasing"),
        ("batch_sizes negative", x, h, c, np.array([1, -1], np.intp), out, 0, "non-increasing"),
        ("out of fewer steps", x, h, c, sizes, np.empty((1, 1, 3), F), 0, r"out must be .* \(2, 1, any\)"),
        ("columns past out", x, h, c, sizes, out, 1, r"columns 1:4 are outside out's 3"),
        ("negative column", x, h, c, sizes, np.empty((2, 1, 6), F), -1, "outside"),
    ]


@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("case", _bad_forward_arguments(), ids=lambda case: case[0])
def test_forward_loops_refuse_arrays_they_would_read_past(quantized, case):
    """forward_direction and quant_forward_direction check every array against the cell before the C loop."""
    _, x, h, c, sizes, out, col0, message = case
    layer = fastrnn.LSTM(4, 3, seed=0)
    if quantized:
        cell, run = fastrnn.quantize_dynamic(layer)._current_cells()[0], _kernels.quant_forward_direction
    else:
        cell, run = layer._current_cells()[0], _kernels.forward_direction
    with pytest.raises(ValueError, match=message):
        run(cell, x, h, c, sizes, False, out, col0)
    good = np.empty((2, 1, 3), F)
    run(cell, np.ones((2, 1, 4), F), np.zeros((1, 3), F), np.zeros((1, 3), F), np.full(2, 1, np.intp), False, good, 0)
    assert np.isfinite(good).all()


def _backward_call():
    """A valid backward_direction call after a training forward_direction of an LSTM (T 2, B 1, I 4, H 3)."""
    cell = fastrnn.LSTM(4, 3, seed=0)._current_cells()[0]
    x, sizes = np.ones((2, 1, 4), F), np.full(2, 1, np.intp)
    tape = {}
    _kernels.forward_direction(cell, x, np.zeros((1, 3), F), np.zeros((1, 3), F), sizes, False,
                               np.empty((2, 1, 3), F), 0, tape)
    grads = {"w_ih": np.zeros((12, 4), F), "w_hh": np.zeros((12, 3), F), "b_ih": np.zeros(12, F),
             "b_hh": np.zeros(12, F)}   # 12 gate rows: 4 H
    return {"cell": cell, "tape": tape, "x": x, "d_out": np.ones((2, 1, 3), F), "col0": 0,
            "dh": np.zeros((1, 3), F), "dc": np.zeros((1, 3), F), "batch_sizes": sizes, "reverse": False,
            "dx": np.zeros((2, 1, 4), F), "grads": grads}


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(x=np.ones((2, 1, 5), F)), "x must be"),
    (lambda a: a.update(d_out=np.ones((1, 1, 3), F)), r"d_out must be .* \(2, 1, any\)"),
    (lambda a: a.update(col0=2), "outside d_out's 3"),
    (lambda a: a.update(dh=np.zeros((1, 4), F)), "dh must be"),
    (lambda a: a.update(dc=None), "dc must be an array"),
    (lambda a: a.update(dx=np.zeros((2, 1, 3), F)), "dx must be"),
    (lambda a: a.update(batch_sizes=np.full(2, 3, np.intp)), "non-increasing"),
    (lambda a: a["tape"].update(gates=np.zeros((2, 1, 5), F)), r"tape\['gates'\] must be"),
    (lambda a: a["tape"].pop("c_prev"), r"tape\['c_prev'\] must be an array; got NoneType"),
    (lambda a: a["grads"].update(w_hh=np.zeros((12, 2), F)), r"grads\['w_hh'\] must be"),
    (lambda a: a["grads"].update(b_ih=np.zeros(11, F)), r"grads\['b_ih'\] must be"),
    (lambda a: a["grads"].pop("w_ih"), r"grads\['w_ih'\] must be an array"),
], ids=["x", "d_out", "col0", "dh", "dc", "dx", "batch_sizes", "gates", "c_prev", "w_hh", "b_ih", "w_ih"])
def test_backward_refuses_arrays_it_would_read_past(change, message):
    args = _backward_call()
    _kernels.backward_direction(**args)   # the valid call runs
    args = _backward_call()
    change(args)
    with pytest.raises(ValueError, match=message):
        _kernels.backward_direction(**args)


def _lstm_params(H=3, I=4, P=3):
    return {"w_ih": np.zeros((4 * H, I), F), "w_hh": np.zeros((4 * H, P), F), "b_ih": np.zeros(4 * H, F),
            "b_hh": np.zeros(4 * H, F), "w_hr": np.zeros((P, H), F), "peep": np.zeros((3, H), F)}


NAMES = ("w_ih", "w_hh", "b_ih", "b_hh", None, None)


@pytest.mark.parametrize("mode, change, names, message", [
    (99, None, NAMES, "mode must be one of"),
    (_kernels.LSTM, lambda p: p.update(w_hh=np.zeros(12, F)), NAMES, "w_hh must be"),
    (_kernels.LSTM, lambda p: p.update(w_hh=np.zeros((10, 3), F)), NAMES, "w_hh must be"),
    (_kernels.LSTM, lambda p: p.update(w_hh=np.zeros((12, 3), np.int32)), NAMES, "float32 or float64"),
    (_kernels.LSTM, lambda p: p.update(w_ih=np.zeros((11, 4), F)), NAMES, "w_ih must be"),
    (_kernels.LSTM, lambda p: p.update(w_ih=np.zeros((12, 4), np.float64)), NAMES, "w_ih must be"),
    (_kernels.LSTM, lambda p: p.update(b_ih=np.zeros(11, F)), NAMES, "b_ih must be"),
    (_kernels.LSTM, lambda p: p.update(b_hh=[0.0] * 12), NAMES, "b_hh must be an array"),
    (_kernels.LSTM, lambda p: p.update(w_hh=np.zeros((12, 2), F)), NAMES, "no w_hr projects them"),
    (_kernels.LSTM, lambda p: p.update(w_hh=np.zeros((12, 2), F), w_hr=np.zeros((3, 3), F)),
     ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr", None), "w_hr must be"),
    (_kernels.LSTM, lambda p: p.update(peep=np.zeros((3, 2), F)), ("w_ih", "w_hh", "b_ih", "b_hh", None, "peep"),
     "peep must be"),
    (_kernels.LSTM, None, ("w_ih", None, "b_ih", "b_hh", None, None), "names must name"),
    (_kernels.LSTM, None, ("w_ih", "w_hh"), "names must name"),
])
def test_cells_refuse_parameters_of_other_shapes(mode, change, names, message):
    """_kernels.Cell reads its arrays through pointers for the life of the cell: every shape is checked first."""
    params = _lstm_params()
    _kernels.Cell(_kernels.LSTM, params, NAMES)   # the valid cell builds
    if change is not None:
        change(params)
    with pytest.raises(ValueError, match=message):
        _kernels.Cell(mode, params, names)


def test_quantized_cells_refuse_matrices_and_arrays_of_other_shapes():
    """_kernels.QuantCell, as _kernels.Cell: None matrices and shapes that do not make the mode's gates."""
    cell = fastrnn.quantize_dynamic(fastrnn.LSTM(4, 3, seed=0))
    w_ih, w_hh = cell._matrix("weight_ih_l0"), cell._matrix("weight_hh_l0")
    bias = np.zeros(12, F)
    _kernels.QuantCell(_kernels.LSTM, w_ih, w_hh, bias, bias, None, None)   # the valid cell builds
    with pytest.raises(TypeError, match="incorrect type"):
        _kernels.QuantCell(_kernels.LSTM, None, w_hh, bias, bias, None, None)
    with pytest.raises(ValueError, match="mode must be"):
        _kernels.QuantCell(99, w_ih, w_hh, bias, bias, None, None)
    with pytest.raises(ValueError, match="gate rows"):   # a w_hn beside an LSTM's W_hh: 24 gate rows, w_ih has 12
        _kernels.QuantCell(_kernels.LSTM, w_ih, w_hh, bias, bias, None, None, w_hh)
    with pytest.raises(ValueError, match="need w_hr"):   # a GRU of these 12 rows has H 4, W_hh 3 columns
        _kernels.QuantCell(_kernels.GRU, w_ih, w_hh, bias, bias, None, None)
    with pytest.raises(ValueError, match="b_ih must be"):
        _kernels.QuantCell(_kernels.LSTM, w_ih, w_hh, np.zeros(11, F), bias, None, None)
    with pytest.raises(ValueError, match="b_hh must be"):
        _kernels.QuantCell(_kernels.LSTM, w_ih, w_hh, bias, bias.astype(np.float64), None, None)
    with pytest.raises(ValueError, match="peep must be"):
        _kernels.QuantCell(_kernels.LSTM, w_ih, w_hh, bias, bias, None, np.zeros((3, 2), F))
    with pytest.raises(ValueError, match="need w_hr"):
        _kernels.QuantCell(_kernels.LSTM, w_ih, w_hh, bias, bias, w_ih, None)


def test_step_runners_refuse_cells_that_do_not_stack():
    """_kernels.StepRunner reads layer k's input as layer k - 1's h through the cells' pointers."""
    two = fastrnn.LSTM(4, 3, num_layers=2, seed=0)
    cells = two._current_cells()
    _kernels.StepRunner(cells, 2, two.params)   # the layer's own cells stack
    other = fastrnn.LSTM(5, 3, seed=0)._current_cells()[0]   # input 5 on an h of 3
    gru = fastrnn.GRU(3, 3, seed=0)._current_cells()[0]
    double = fastrnn.LSTM(3, 3, seed=0, dtype=np.float64)._current_cells()[0]
    for bad, message in (([cells[0], other], "does not stack"), ([cells[0], gru], "does not stack"),
                         ([cells[0], double], "does not stack"), ([], "at least one cell")):
        with pytest.raises(ValueError, match=message):
            _kernels.StepRunner(bad, 2, two.params)
    with pytest.raises(ValueError, match="B >= 1"):
        _kernels.StepRunner(cells, 0, two.params)
    with pytest.raises(TypeError):
        _kernels.StepRunner([object()], 2, two.params)
    with pytest.raises(TypeError):
        _kernels.StepRunner(None, 2, two.params)


def test_a_foreign_step_runner_is_never_taken_for_a_compiled_one():
    """StepRunners.use keeps any object; the fast path, which casts its runner unchecked, only ever sees
    StepRunners (a foreign one there crashed the interpreter at the next step)."""
    layer = fastrnn.LSTM(3, 4, seed=0)
    x = np.ones((1, 3), F)
    y, _ = layer.step(x)
    layer._local.use(1, object())
    with pytest.raises(AttributeError):   # the checked path calls the object's step()
        layer.step(x)
    layer._local = _kernels.StepRunners()   # a fresh set of runners: stepping works again
    assert np.array_equal(layer.step(x)[0], y)


@pytest.mark.parametrize("name", ["run_directions", "forward_pair"])
def test_cell_lists_of_foreign_objects_are_refused(name):
    function, args, _ = _calls()[name]
    bad = list(args)
    bad[0] = [object(), object()]
    with pytest.raises(TypeError):
        function(*bad)
