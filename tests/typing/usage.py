"""Typed use of the public API, checked by mypy in tests/test_typing.py (never imported by the suite).

Every assert_type must hold, and mypy must report nothing here.
"""
from typing import Any, Dict, List, Tuple, Union

import numpy as np
from typing_extensions import assert_type

import fastrnn

x = np.zeros((5, 2, 3), np.float32)

lstm = fastrnn.LSTM(3, 4)
out, (h_n, c_n) = lstm(x)
assert_type(lstm(x), Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]])
assert_type(lstm(x, (h_n, c_n), lengths=[5, 3]), Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]])
assert_type(lstm.step(x[0], (h_n, c_n)), Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]])

gru = fastrnn.GRU(3, 4, num_layers=2)
assert_type(gru(x), Tuple[np.ndarray, np.ndarray])
assert_type(gru.step(x[0]), Tuple[np.ndarray, np.ndarray])
rnn = fastrnn.RNN(3, 4, nonlinearity="relu")
y, h = rnn(x, np.zeros((1, 2, 4), np.float32))
assert_type(h, np.ndarray)

assert_type(fastrnn.LSTM.from_state_dict(lstm.state_dict()), fastrnn.LSTM)
assert_type(fastrnn.GRU.from_state_dict({}, prefix="gru."), fastrnn.GRU)

loaded = fastrnn.load("model.safetensors")    # Any, as json.load's: what it holds depends on the file
assert_type(fastrnn.LSTM.from_state_dict(fastrnn.load("model.pt")), fastrnn.LSTM)
layer = fastrnn.LSTM.from_state_dict(loaded, prefix="lstm.")
fastrnn.save("out.safetensors", layer.state_dict())
assert_type(fastrnn.find_recurrent_layers(loaded), List[Dict[str, Any]])

fastrnn.set_num_threads(2)
assert_type(fastrnn.get_num_threads(), int)
assert_type(fastrnn.__version__, str)

session = fastrnn.InferenceSession("model.onnx")     # onnxruntime's API
assert_type(session.run(None, {"x": x}), List[np.ndarray])
assert_type(session.run(["y"], {"x": x}), List[np.ndarray])
assert_type(session.get_inputs()[0].shape, List[Union[int, str, None]])
assert_type(session.get_outputs()[0].type, str)
stream = session.stream()
assert_type(stream.run(None, {"x": x}), List[np.ndarray])
stream.reset()
