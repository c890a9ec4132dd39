"""The README's loading and quantizing patterns, checked by mypy --strict in tests/test_typing.py (never run)."""
import numpy as np

import fastrnn
from fastrnn.quant import QuantizedGRU, QuantizedLSTM

lstm = fastrnn.LSTM.from_state_dict(fastrnn.load("model.pt"), prefix="lstm.", batch_first=True)
gru = fastrnn.GRU.from_state_dict(fastrnn.load("model.safetensors"))
fastrnn.save("model.safetensors", lstm.state_dict())
q_lstm: QuantizedLSTM = fastrnn.quantize_dynamic(lstm, "int8")
q_gru: QuantizedGRU = fastrnn.quantize_dynamic(gru, dtype="bfloat16")
out, (h_n, c_n) = q_lstm(np.zeros((5, 2, 8), np.float32))
y, h = q_gru.step(np.zeros((2, 8), np.float32))
missing, unexpected = lstm.load_state_dict(lstm.state_dict())
model = fastrnn.nn.Sequential({"lstm": lstm, "pool": fastrnn.nn.LastStep(batch_first=True)})
print(out.shape, h_n.shape, c_n.shape, y.shape, h.shape, missing, unexpected, model)
