"""Misuse that mypy must flag (tests/test_typing.py): each line marked `# error:` must get an error containing the
text after the marker, and no other line may get one."""
import numpy as np

import fastrnn

fastrnn.set_num_threads("2")  # error: incompatible type "str"; expected "int"
fastrnn.load(3)  # error: Argument 1 to "load" has incompatible type "int"
gru_state: tuple = fastrnn.GRU(3, 4)(np.zeros((5, 3)))[1]  # error: Incompatible types in assignment
h, c = fastrnn.LSTM(3, 4).step(np.zeros(3))[1]
c.no_such_attribute  # error: has no attribute "no_such_attribute"
fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4)).no_such_method()  # error: "QuantizedLSTM" has no attribute
fastrnn.InferenceSession(3)  # error: Argument 1 to "InferenceSession" has incompatible type "int"
