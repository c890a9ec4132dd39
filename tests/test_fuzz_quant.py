"""Quantized layers keep read-only parameters because their kernels hold packed copies. Defects found (each test
failed before its fix): the arrays were only flagged read-only, so `flags.writeable = True` and an in-place edit
left the kernels computing with the old weights while state_dict() showed the new ones; unpickled layers had
writeable arrays again; and load_state_dict set the caller's own arrays (the float entries of the state dict
passed in) read-only, aliasing them as parameters."""
import pickle

import numpy as np
import pytest

import fastrnn
from fastrnn.quant import WEIGHT_FORMATS, quantize_dynamic


def _layer(fmt):
    return quantize_dynamic(fastrnn.LSTM(8, 16, seed=0), fmt)


@pytest.mark.parametrize("fmt", WEIGHT_FORMATS)
@pytest.mark.parametrize("how", ["built", "unpickled", "loaded"])
def test_parameters_cannot_be_made_writeable_again(fmt, how):
    layer = _layer(fmt)
    if how == "unpickled":
        layer = pickle.loads(pickle.dumps(layer))
    elif how == "loaded":
        layer.load_state_dict({k: np.array(v) for k, v in layer.params.items()})
    for name, value in layer.params.items():
        with pytest.raises(ValueError, match="WRITEABLE"):
            value.flags.writeable = True
        assert not value.flags.writeable, name


@pytest.mark.parametrize("fmt", WEIGHT_FORMATS)
def test_load_state_dict_neither_aliases_nor_freezes_the_callers_arrays(fmt):
    layer = _layer(fmt)
    state = {k: np.array(v) for k, v in layer.params.items()}
    layer.load_state_dict(state)
    for name, value in state.items():
        assert value.flags.writeable, name
        assert not np.shares_memory(value, layer.params[name]), name
    x = np.ones((3, 2, 8), np.float32)
    before = layer(x)[0]
    state["bias_ih_l0"] += 1.0                      # the caller's copy: the layer must not change
    np.testing.assert_array_equal(layer(x)[0], before)
