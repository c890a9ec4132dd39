"""Torch models as users export them to ONNX: the architectures of examples/ (without packed sequences, which
torch.onnx.export does not take) and a few more usual RNN models, for the whole-model tests and `fastrnn bench`'s
"whole models" section. Needs torch (imported when a model is built, never by `import fastrnn`).

    MODELS           {name: (builder, input kind)}; builder(torch) -> an nn.Module in eval mode, seeded weights
    example_inputs   the model's inputs as NumPy arrays for B rows of T steps
    export           torch.onnx.export of a model (TorchScript or dynamo exporter) with dynamic batch and time
"""
import numpy as np

VOCAB = 50      # token ids in [0, VOCAB)
FEATURES = 6    # features per step of the numeric-input models


def _models(torch):
    nn = torch.nn

    def _valid(ids, lengths):   # (B, T): step t < lengths[b] (cumsum, not arange(T): the dynamo exporter keeps
        return torch.ones_like(ids).cumsum(1) <= lengths[:, None]   # T dynamic through it)

    class SentimentLSTM(nn.Module):               # examples/sentiment_lstm.py: ids (B, T) -> (B, 1)
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16, padding_idx=0)
            self.lstm = nn.LSTM(16, 32, batch_first=True)
            self.fc = nn.Linear(32, 1)

        def forward(self, ids):
            _, (h_n, _) = self.lstm(self.embedding(ids))
            return torch.sigmoid(self.fc(h_n[-1]))

    class SequenceClassifier(nn.Module):          # examples/sequence_classifier.py: masked mean of a 2-layer LSTM
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16, padding_idx=0)
            self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True)
            self.norm = nn.LayerNorm(32)
            self.fc = nn.Linear(32, 4)

        def forward(self, ids, lengths):
            out = self.norm(self.lstm(self.embedding(ids))[0])
            valid = _valid(ids, lengths).unsqueeze(-1)
            return self.fc((out * valid).sum(1) / lengths[:, None])

    class GRURegressor(nn.Module):                # examples/gru_regressor.py: x (B, T, F) -> (B, 1)
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(FEATURES, 32, num_layers=2, batch_first=True)
            self.head = nn.Linear(32, 1)

        def forward(self, x):
            return self.head(self.gru(x)[0][:, -1])

    class BiLSTMTagger(nn.Module):                # examples/bilstm_tagger.py: ids (B, T) -> (B, T, tags)
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16, padding_idx=0)
            self.lstm = nn.LSTM(16, 24, batch_first=True, bidirectional=True)
            self.tagger = nn.Linear(48, 5)

        def forward(self, ids):
            return self.tagger(self.lstm(self.embedding(ids))[0])

    class AttentionClassifier(nn.Module):         # examples/attention_classifier.py: additive attention, masked
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16, padding_idx=0)
            self.lstm = nn.LSTM(16, 32, batch_first=True)
            self.proj = nn.Linear(32, 16)
            self.score = nn.Linear(16, 1, bias=False)
            self.fc = nn.Linear(32, 3)

        def forward(self, ids, lengths):
            out = self.lstm(self.embedding(ids))[0]
            scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
            valid = _valid(ids, lengths)
            weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
            return self.fc((weights.unsqueeze(-1) * out).sum(1))

    class CharLM(nn.Module):                      # examples/charlm_generate.py: ids (B, T) -> logits (B, T, V)
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16)
            self.lstm = nn.LSTM(16, 48, num_layers=2, batch_first=True)
            self.head = nn.Linear(48, VOCAB)

        def forward(self, ids):
            return torch.log_softmax(self.head(self.lstm(self.embedding(ids))[0]), dim=-1)

    class BiGRUTagger(nn.Module):                 # a bidirectional GRU tagger, GELU head
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 16)
            self.gru = nn.GRU(16, 24, batch_first=True, bidirectional=True)
            self.hidden = nn.Linear(48, 24)
            self.out = nn.Linear(24, 7)

        def forward(self, ids):
            return self.out(nn.functional.gelu(self.hidden(self.gru(self.embedding(ids))[0])))

    class SelfAttentionLSTM(nn.Module):           # scaled dot-product attention over LSTM states, max + mean pool
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, 32, batch_first=True)
            self.qkv = nn.Linear(32, 96)
            self.fc = nn.Linear(64, 2)

        def forward(self, x):
            out = self.lstm(x)[0]
            q, k, v = self.qkv(out).split(32, dim=-1)
            attn = torch.softmax(q @ k.transpose(1, 2) / 32 ** 0.5, dim=-1) @ v
            return self.fc(torch.cat([attn.max(dim=1).values, attn.mean(dim=1)], dim=-1))

    class ConvGRU(nn.Module):                     # a speech / sensor front end: Conv1d, ReLU6 -> GRU -> head
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(FEATURES, 16, kernel_size=3, padding=1)
            self.gru = nn.GRU(16, 32, batch_first=True)
            self.head = nn.Linear(32, 4)

        def forward(self, x):                     # x (B, T, F)
            feats = torch.clamp(self.conv(x.transpose(1, 2)), 0.0, 6.0).transpose(1, 2)
            return torch.softmax(self.head(self.gru(feats)[0]), dim=-1)

    class ElmanClassifier(nn.Module):            # a 2-layer tanh RNN (nn.RNN), mean over time, softmax head
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(FEATURES, 24, num_layers=2, batch_first=True)
            self.fc = nn.Linear(24, 3)

        def forward(self, x):
            return torch.softmax(self.fc(self.rnn(x)[0].mean(dim=1)), dim=-1)

    class StatefulGRU(nn.Module):                 # states in and out as graph inputs/outputs, a bidirectional layer
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(FEATURES, 16, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(32, 2)

        def forward(self, x, h0):
            out, h_n = self.gru(x, h0)
            return self.fc(out), h_n

    return {"sentiment_lstm": (SentimentLSTM, "ids"), "sequence_classifier": (SequenceClassifier, "ids+lengths"),
            "gru_regressor": (GRURegressor, "features"), "bilstm_tagger": (BiLSTMTagger, "ids"),
            "attention_classifier": (AttentionClassifier, "ids+lengths"), "charlm": (CharLM, "ids"),
            "bigru_tagger": (BiGRUTagger, "ids"), "self_attention_lstm": (SelfAttentionLSTM, "features"),
            "conv_gru": (ConvGRU, "features"), "elman_classifier": (ElmanClassifier, "features"),
            "stateful_gru": (StatefulGRU, "features+state")}


EXAMPLES = ("sentiment_lstm", "sequence_classifier", "gru_regressor", "bilstm_tagger", "attention_classifier",
            "charlm")
OWN = ("bigru_tagger", "self_attention_lstm", "conv_gru", "elman_classifier", "stateful_gru")
KINDS = {"sentiment_lstm": "ids", "sequence_classifier": "ids+lengths", "gru_regressor": "features",
         "bilstm_tagger": "ids", "attention_classifier": "ids+lengths", "charlm": "ids", "bigru_tagger": "ids",
         "self_attention_lstm": "features", "conv_gru": "features", "elman_classifier": "features",
         "stateful_gru": "features+state"}
STATE_SHAPE = (4, 16)   # stateful_gru's h0 (L*D, B, H) without B


def build(torch, name, seed=0):
    """The torch model `name` in eval mode, weights from torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return _models(torch)[name][0]().eval()


def example_inputs(name, B, T, seed=0):
    """{input name: array} for B rows of T steps: ids int64 (B, T) in [1, VOCAB) and lengths int64 (B,) in
    [1, T], or features float32 (B, T, F) (and a state h0 (L*D, B, H))."""
    rng = np.random.default_rng(seed)
    if KINDS[name] == "features":
        return {"x": rng.standard_normal((B, T, FEATURES)).astype(np.float32)}
    if KINDS[name] == "features+state":
        return {"x": rng.standard_normal((B, T, FEATURES)).astype(np.float32),
                "h0": rng.standard_normal((STATE_SHAPE[0], B, STATE_SHAPE[1])).astype(np.float32)}
    feeds = {"ids": rng.integers(1, VOCAB, (B, T)).astype(np.int64)}
    if KINDS[name] == "ids+lengths":
        feeds["lengths"] = rng.integers(1, T + 1, B).astype(np.int64)
    return feeds


def export(torch, name, path, *, dynamo=False, opset=17, seed=0):
    """Export model `name` to `path` with batch and time dynamic; returns the torch model."""
    import warnings

    model = build(torch, name, seed)
    feeds = example_inputs(name, 2, 5)
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    names = list(feeds)
    batch_axis = {"lengths": {0: "batch"}, "h0": {1: "batch"}}
    axes = {n: batch_axis.get(n, {0: "batch", 1: "time"}) for n in names}
    outputs = ["out", "h_n"] if "h0" in feeds else ["out"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            batch, time = torch.export.Dim("batch", min=1), torch.export.Dim("time", min=1)
            shapes = {n: {k: batch if v == "batch" else time for k, v in axes[n].items()} for n in names}
            torch.onnx.export(model, args, str(path), input_names=names, output_names=outputs, dynamo=True,
                              opset_version=opset, dynamic_shapes=shapes, verbose=False)
        else:
            torch.onnx.export(model, args, str(path), input_names=names, output_names=outputs, dynamo=False,
                              opset_version=opset, dynamic_axes={**axes, "out": {0: "batch"}, "h_n": {1: "batch"}})
    return model
