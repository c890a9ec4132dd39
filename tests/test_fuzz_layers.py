"""The recurrent layers under sequences of parameter tampering and calls (hypothesis, derandomized): every call
either raises ValueError naming a parameter or returns what fastrnn/reference.py computes from the layer's
state_dict() at that moment: parameters are never stale, whatever a user does to them. Plus the defects this
found (each test failed before its fix):

- a parameter's dtype set in place to the other byte order (`w.dtype = w.dtype.newbyteorder()`, same memory)
  went unnoticed: the kernels kept reading the bytes as native floats, while state_dict() showed other values;
- backward after a parameter array was replaced used the new weights with activations taped under the old
  ones: a silently inconsistent gradient (torch differentiates the weights the forward pass used);
- stepping with ever new batch sizes kept one streaming workspace per size forever (unbounded memory);
- load_state_dict into a read-only parameter copied the entries before it, then failed (a partial load);
- an ONNX file whose node names collide after renaming ("a", "a_2", "a") lost a layer without a word.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import reference

I, H = 3, 4
MODES = {"LSTM": fastrnn.LSTM, "GRU": fastrnn.GRU, "RNN": fastrnn.RNN}
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _swap_byte_order(a):
    a.dtype = a.dtype.newbyteorder()   # same memory, the bytes now read the other way
    return a


# what a user may do to one parameter: a function returning the new array (the same one when changed in place)
# or None where it does not apply; True: the layer must refuse it until a valid array is put back
TAMPER = {
    "replace_perturbed": (lambda a: a + 0.25, False),
    "replace_read_only": (lambda a: np.frombuffer((a * 0.5).tobytes(), a.dtype).reshape(a.shape), False),
    "scale_in_place": (lambda a: a.__imul__(1.5) if a.flags.writeable else None, False),
    "replace_wrong_shape": (lambda a: np.zeros(a.shape[:-1] + (a.shape[-1] + 1,), a.dtype), True),
    "replace_other_dtype": (lambda a: a.astype(np.float32), True),
    "replace_fortran_order": (lambda a: np.asfortranarray(a) if a.ndim == 2 and min(a.shape) > 1 else None, True),
    "swap_byte_order_in_place": (_swap_byte_order, True),
}
CALLS = ("short", "long", "wide", "steps", "backward")


def _apply(layer, key, tamper):
    make, refused = TAMPER[tamper]
    current = layer.params[key]
    with np.errstate(over="ignore"):
        result = make(current)
    if result is None:
        return False
    if result is not current:
        layer.params[key] = result
    return refused


def _expected(mode, layer, x):
    return reference.rnn_forward(mode, x, {k: np.asarray(v, np.float64) for k, v in layer.state_dict().items()},
                                 hidden_size=H, num_layers=layer.num_layers,
                                 bidirectional=layer.bidirectional)[0]


def _call(layer, call, rng):
    """(x, out) of one call through the path `call` names (wide batches and long calls use packed panels)."""
    T, B = {"short": (2, 2), "long": (9, 2), "wide": (3, 12), "steps": (3, 2), "backward": (6, 3)}[call]
    x = rng.standard_normal((T, B, I))
    if call == "steps":
        state, ys = None, []
        for t in range(T):
            y, state = layer.step(x[t], state)
            ys.append(y)
        return x, np.stack(ys)
    if call == "backward":
        out, _, tape = layer.forward_train(x)
        layer.backward(tape, np.ones_like(out))
        return x, out
    return x, layer(x)[0]


@given(mode=st.sampled_from(sorted(MODES)), num_layers=st.integers(1, 2), data=st.data())
@SETTINGS
def test_parameters_are_never_stale_whatever_is_done_to_them(mode, num_layers, data):
    rng = np.random.default_rng(0)
    layer = MODES[mode](I, H, num_layers=num_layers, dtype=np.float64, seed=0)
    good = {k: v.copy() for k, v in layer.params.items()}
    broken = set()
    for _ in range(4):
        key = data.draw(st.sampled_from(sorted(layer.params)))
        tamper = data.draw(st.sampled_from(sorted(TAMPER)))
        if key in broken:                                     # put a valid array back first
            layer.params[key] = good[key].copy()
            broken.discard(key)
        if _apply(layer, key, tamper):
            broken.add(key)
        call = data.draw(st.sampled_from(CALLS))
        if broken:
            with pytest.raises(ValueError, match=r"params\[") as info:
                _call(layer, call, rng)
            assert any(k in str(info.value) for k in broken)
            continue
        x, out = _call(layer, call, rng)
        assert_close(out, _expected(mode, layer, x), RTOL[np.float64], f"{call} after {tamper} of {key}")
        good = {k: np.array(v) for k, v in layer.params.items()}


def test_a_byte_order_set_in_place_is_refused():
    layer = fastrnn.GRU(I, H, seed=0)
    x = np.ones((2, 1, I), np.float32)
    layer(x)
    _swap_byte_order(layer.params["weight_hh_l0"])
    with pytest.raises(ValueError, match=r"params\['weight_hh_l0'\].*float32"):
        layer(x)
    with pytest.raises(ValueError, match=r"params\['weight_hh_l0'\]"):
        layer.step(x[0])


@pytest.mark.parametrize("mode", sorted(MODES))
def test_backward_after_a_parameter_was_replaced_is_refused(mode):
    layer = MODES[mode](I, H, seed=0)
    out, _, tape = layer.forward_train(np.ones((4, 2, I), np.float32))
    layer.params["weight_hh_l0"] = layer.params["weight_hh_l0"] * 2
    with pytest.raises(ValueError, match="replaced.*run forward_train again"):
        layer.backward(tape, np.ones_like(out))
    assert not any(g.any() for g in layer.grads.values())
    out, _, tape = layer.forward_train(np.ones((4, 2, I), np.float32))   # a new tape works
    layer.backward(tape, np.ones_like(out))


def test_onnx_nodes_whose_names_collide_after_renaming_all_become_layers(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    weights, nodes = [], []
    for index, name in enumerate(["a", "a_2", "a"]):
        weights += [numpy_helper.from_array(np.full((1, 3 * H, I), index, np.float32), f"W{index}"),
                    numpy_helper.from_array(np.full((1, 3 * H, H), index, np.float32), f"R{index}")]
        nodes.append(helper.make_node("GRU", ["X", f"W{index}", f"R{index}"], [f"Y{index}"], name=name,
                                      hidden_size=H))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 1, I])],
                              [helper.make_tensor_value_info(f"Y{i}", TensorProto.FLOAT, None) for i in range(3)],
                              weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "names.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = fastrnn.from_onnx(tmp_path / "names.onnx")
    assert len(layers) == 3
    assert sorted(float(layer.params["weight_ih_l0"][0, 0]) for layer in layers.values()) == [0.0, 1.0, 2.0]


def test_streaming_with_ever_new_batch_sizes_keeps_memory_bounded():
    """Each batch size got its own cached streaming workspace, kept forever: stepping with batch sizes 1..1200
    (a server batching whatever requests are waiting) held 6.9 GB for an LSTM(64, 256)."""
    import tracemalloc
    layer = fastrnn.LSTM(16, 256, seed=0)
    tracemalloc.start()
    try:
        for B in range(1, 151):
            layer.step(np.ones((B, 16), np.float32))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # unbounded: sum over B of B (P + G + 2H) float32 = 81 MB; bounded: a few batch sizes' worth, under 10 MB
    assert held < 40e6, f"{held / 1e6:.0f} MB held after stepping with 150 batch sizes"


@pytest.mark.parametrize("make", [lambda: fastrnn.GRU(I, H, seed=0), lambda: fastrnn.nn.Linear(I, H, seed=0),
                                  lambda: fastrnn.nn.LSTMCell(I, H, seed=0)])
def test_a_load_into_a_read_only_parameter_changes_nothing(make):
    """load_state_dict promises that a failed load changes nothing; a read-only parameter array (valid for every
    call) made it copy the entries before that one and then fail with NumPy's unnamed "assignment destination
    is read-only"."""
    module = make()
    names = list(module.params)
    before = {k: v.copy() for k, v in module.params.items()}
    module.params[names[-1]].flags.writeable = False
    with pytest.raises(ValueError, match=rf"params\['{names[-1]}'\] is read-only"):
        module.load_state_dict({k: v + 1 for k, v in before.items()})
    assert all(np.array_equal(module.params[k], before[k]) for k in names)
    module.params[names[-1]] = [0.0]                         # not an array at all
    with pytest.raises(ValueError, match=rf"params\['{names[-1]}'\] must be a NumPy array"):
        module.load_state_dict(before)
