"""The demo's other engines, running the same character-LM weights as fastrnn: the naive NumPy implementation
(fastrnn.reference), torch and ONNX Runtime. torch, onnx and onnxruntime are imported only when an engine that
needs them is built; available() says which can run.

Every engine, like fastrnn.demo.CharLM, has
    run(ids, state=None)  ids (B, T) ints -> (logits (B, T, V), state)    the whole sequence
    step(ids, state)      ids (B,) ints   -> (logits (B, V), state)       one character further
with state (h (L, B, H), c (L, B, H)) in the engine's own array type, None for zeros. The weights are a state
dict {torch name: NumPy array} with keys embedding.weight (V, E), lstm.* (torch.nn.LSTM, batch_first) and
head.weight (V, H), head.bias (V,).
"""
import importlib

import numpy as np

from . import reference


def available():
    """{engine name: None if it can run here, else why not}. Tries the imports (a broken install counts as absent)."""
    def missing(*modules):
        absent = []
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:
                absent.append(module)
        return None if not absent else "not installed (needs " + " and ".join(absent) + ")"
    return {"naive NumPy": None, "torch": missing("torch"), "ONNX Runtime": missing("onnx", "onnxruntime")}


def build(name, weights, path, num_layers):
    """The engine `name` (a key of available()) on `weights`; torch reads them from the file `path` itself."""
    if name == "naive NumPy":
        return NumpyEngine(weights, num_layers)
    if name == "torch":
        return TorchEngine(path, num_layers)
    return OnnxRuntimeEngine(weights, num_layers)


class _StepByRun:
    """step() as a one-character run()."""

    def step(self, ids, state):
        logits, state = self.run(np.asarray(ids)[:, None], state)
        return logits[:, 0], state


class NumpyEngine(_StepByRun):
    """fastrnn.reference.rnn_forward (a Python loop over time steps, one matmul per weight per step) between a
    NumPy row lookup and a NumPy matmul."""

    def __init__(self, weights, num_layers):
        self.weights, self.num_layers = weights, num_layers
        self.hidden_size = weights["lstm.weight_hh_l0"].shape[1]
        self.lstm_weights = {k[len("lstm."):]: w for k, w in weights.items() if k.startswith("lstm.")}

    def run(self, ids, state=None):
        x = self.weights["embedding.weight"][ids]                                        # (B, T, E)
        out, state = reference.rnn_forward("LSTM", x, self.lstm_weights, hidden_size=self.hidden_size,
                                           num_layers=self.num_layers, batch_first=True, hx=state)
        return out @ self.weights["head.weight"].T + self.weights["head.bias"], state     # (B, T, V)


class TorchEngine(_StepByRun):
    """torch.nn.Embedding -> torch.nn.LSTM -> torch.nn.Linear, loaded by torch.load from the same file, run under
    torch.inference_mode with torch's default threads."""

    def __init__(self, path, num_layers):
        import torch
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        vocab, embed = state_dict["embedding.weight"].shape
        hidden = state_dict["lstm.weight_hh_l0"].shape[1]
        self.torch = torch
        self.modules = {"embedding": torch.nn.Embedding(vocab, embed),
                        "lstm": torch.nn.LSTM(embed, hidden, num_layers=num_layers, batch_first=True),
                        "head": torch.nn.Linear(hidden, vocab)}
        for prefix, module in self.modules.items():
            module.load_state_dict({k[len(prefix) + 1:]: v for k, v in state_dict.items()
                                    if k.startswith(prefix + ".")})
            module.eval()

    def run(self, ids, state=None):
        with self.torch.inference_mode():
            m = self.modules
            out, state = m["lstm"](m["embedding"](self.torch.from_numpy(np.asarray(ids, np.int64))), state)
            return m["head"](out).numpy(), state


class OnnxRuntimeEngine(_StepByRun):
    """An ONNX graph Gather -> LSTM node per layer -> MatMul + Add, built with onnx.helper from the weights (no
    torch), run by an onnxruntime.InferenceSession on the CPU."""

    def __init__(self, weights, num_layers):
        import onnxruntime
        self.num_layers = num_layers
        self.hidden_size = weights["lstm.weight_hh_l0"].shape[1]
        self.session = onnxruntime.InferenceSession(onnx_charlm(weights, num_layers),
                                                    providers=["CPUExecutionProvider"])

    def run(self, ids, state=None):
        ids = np.ascontiguousarray(np.asarray(ids, np.int64).T)                              # (T, B)
        if state is None:
            zeros = np.zeros((self.num_layers, ids.shape[1], self.hidden_size), np.float32)
            state = (zeros, zeros)
        logits, h, c = self.session.run(None, {"ids": ids, "h0": state[0], "c0": state[1]})
        return logits.transpose(1, 0, 2), (h, c)                                             # (B, T, V)


def onnx_charlm(weights, num_layers):
    """The serialized ONNX model (bytes) of the character LM: inputs ids (T, B) int64, h0 and c0 (L, B, H);
    outputs logits (T, B, V), h_n and c_n (L, B, H). torch's gate rows [i, f, g, o] become ONNX's [i, o, f, c]."""
    from onnx import TensorProto, helper, numpy_helper

    def rows_iofc(w):                       # (4H, ...) in torch's order -> ONNX's
        i, f, g, o = np.split(w, 4)
        return np.concatenate([i, o, f, g])

    H = weights["lstm.weight_hh_l0"].shape[1]
    V = weights["head.weight"].shape[0]
    inits = [numpy_helper.from_array(weights["embedding.weight"], "embedding"),
             numpy_helper.from_array(np.ascontiguousarray(weights["head.weight"].T), "head_wt"),   # (H, V)
             numpy_helper.from_array(weights["head.bias"], "head_b"),
             numpy_helper.from_array(np.ones(num_layers, np.int64), "one_per_layer")]
    nodes = [helper.make_node("Gather", ["embedding", "ids"], ["x0"]),                       # (T, B, E)
             helper.make_node("Split", ["h0", "one_per_layer"], [f"h0_l{k}" for k in range(num_layers)], axis=0),
             helper.make_node("Split", ["c0", "one_per_layer"], [f"c0_l{k}" for k in range(num_layers)], axis=0)]
    for k in range(num_layers):
        w = weights[f"lstm.weight_ih_l{k}"]
        bias = np.concatenate([rows_iofc(weights[f"lstm.bias_ih_l{k}"]), rows_iofc(weights[f"lstm.bias_hh_l{k}"])])
        inits += [numpy_helper.from_array(rows_iofc(w)[None], f"W{k}"),                        # (1, 4H, I)
                  numpy_helper.from_array(rows_iofc(weights[f"lstm.weight_hh_l{k}"])[None], f"R{k}"),  # (1, 4H, H)
                  numpy_helper.from_array(bias[None], f"B{k}")]                               # (1, 8H)
        nodes += [helper.make_node("LSTM", [f"x{k}", f"W{k}", f"R{k}", f"B{k}", "", f"h0_l{k}", f"c0_l{k}"],
                                   [f"y{k}", f"h_l{k}", f"c_l{k}"], hidden_size=H),          # y (T, 1, B, H)
                  helper.make_node("Squeeze", [f"y{k}", "axis1"], [f"x{k + 1}"])]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    nodes += [helper.make_node("MatMul", [f"x{num_layers}", "head_wt"], ["scores"]),
              helper.make_node("Add", ["scores", "head_b"], ["logits"]),
              helper.make_node("Concat", [f"h_l{k}" for k in range(num_layers)], ["h_n"], axis=0),
              helper.make_node("Concat", [f"c_l{k}" for k in range(num_layers)], ["c_n"], axis=0)]
    state = ["L", "B", H]
    graph = helper.make_graph(
        nodes, "charlm",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["T", "B"]),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c0", TensorProto.FLOAT, state)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["T", "B", V]),
         helper.make_tensor_value_info("h_n", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c_n", TensorProto.FLOAT, state)],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
