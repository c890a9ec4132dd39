"""The seed's architectures end to end: each torch definition below, with random weights, against the fastrnn
model its example script (examples/*.py) builds from the state dict, in float32 (conftest.RTOL: 2e-5 relative
to scale), on padded batches of variable lengths. Each script also runs from a torch.save file, and without one."""
import importlib.util
import os

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
LENGTHS = np.array([9, 1, 4, 9, 6])          # B = 5, T = 9: full, single-step and partial rows
VOCAB = 50


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_models(torch):
    """{example name: (torch model class, constructor args)}: the definitions the examples document."""
    nn = torch.nn
    pack, unpack = nn.utils.rnn.pack_padded_sequence, nn.utils.rnn.pad_packed_sequence

    def run_packed(lstm, x, lengths):
        packed = pack(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = lstm(packed)
        return unpack(out, batch_first=True, total_length=x.shape[1])[0], state

    class SentimentLSTM(nn.Module):
        def __init__(self, vocab, embed, hidden):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, 1)

        def forward(self, ids, lengths):
            _, (h_n, _) = run_packed(self.lstm, self.embedding(ids), lengths)
            return torch.sigmoid(self.fc(h_n[-1]))

    class SequenceClassifier(nn.Module):
        def __init__(self, vocab, embed, hidden, classes):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True, dropout=0.2)
            self.norm = nn.LayerNorm(hidden)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, ids, lengths):
            out = self.norm(run_packed(self.lstm, self.embedding(ids), lengths)[0])
            valid = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
            return self.fc((out * valid).sum(1) / lengths[:, None])

    class GRURegressor(nn.Module):
        def __init__(self, features, hidden):
            super().__init__()
            self.gru = nn.GRU(features, hidden, num_layers=2, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.head(out[:, -1])

    class BiLSTMTagger(nn.Module):
        def __init__(self, vocab, embed, hidden, tags):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
            self.tagger = nn.Linear(2 * hidden, tags)

        def forward(self, ids, lengths):
            return self.tagger(run_packed(self.lstm, self.embedding(ids), lengths)[0])

    class AdditiveAttention(nn.Module):
        def __init__(self, features, size):
            super().__init__()
            self.proj = nn.Linear(features, size)
            self.score = nn.Linear(size, 1, bias=False)

        def forward(self, out, lengths):
            scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
            valid = torch.arange(out.shape[1])[None, :] < lengths[:, None]
            weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
            return (weights.unsqueeze(-1) * out).sum(1)

    class AttentionClassifier(nn.Module):
        def __init__(self, vocab, embed, hidden, attention, classes):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True)
            self.attention = AdditiveAttention(hidden, attention)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, ids, lengths):
            out, _ = run_packed(self.lstm, self.embedding(ids), lengths)
            return self.fc(self.attention(out, lengths))

    return {"sentiment_lstm": (SentimentLSTM, (VOCAB, 8, 16)),
            "sequence_classifier": (SequenceClassifier, (VOCAB, 8, 16, 4)),
            "gru_regressor": (GRURegressor, (3, 16)),
            "bilstm_tagger": (BiLSTMTagger, (VOCAB, 8, 12, 5)),
            "attention_classifier": (AttentionClassifier, (VOCAB, 8, 16, 10, 3))}


def inputs(name, rng):
    """The example's inputs: (args for fastrnn, kwargs for fastrnn, args for torch as arrays)."""
    if name == "gru_regressor":
        x = rng.standard_normal((5, 9, 3)).astype(np.float32)
        return (x,), {}, (x,)
    ids = rng.integers(1, VOCAB, (5, 9))
    ids[np.arange(9)[None, :] >= LENGTHS[:, None]] = 0
    return (ids,), {"lengths": LENGTHS}, (ids, LENGTHS)


ARCHITECTURES = ["sentiment_lstm", "sequence_classifier", "gru_regressor", "bilstm_tagger", "attention_classifier"]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_architecture_matches_torch(name, rng, tmp_path):
    torch = require_torch()
    model_class, sizes = torch_models(torch)[name]
    torch.manual_seed(0)
    reference = model_class(*sizes).eval()
    with torch.no_grad():
        for p in reference.parameters():             # weights of a trained model's spread, not init's
            p.add_(0.3 * torch.randn(p.shape))
    args, kwargs, torch_args = inputs(name, rng)
    with torch.no_grad():
        expected = reference(*(torch.from_numpy(a) for a in torch_args)).numpy()
    example = load_example(name)
    model = example.build(reference.state_dict())
    assert_close(model(*args, **kwargs), expected, RTOL[np.float32], name)
    path = tmp_path / f"{name}.pt"                     # the script's --weights route: fastrnn's torch.save reader
    torch.save(reference.state_dict(), path)
    assert_close(example.build(fastrnn.load(str(path)))(*args, **kwargs), expected, RTOL[np.float32], name)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_example_script_runs(name, tmp_path, capsys):
    torch = require_torch()
    example = load_example(name)
    model_class, sizes = torch_models(torch)[name]
    path = tmp_path / "model.pt"
    torch.save(model_class(*sizes).state_dict(), path)
    for argv in ([], ["--weights", str(path)]):
        result = example.main(argv + ["--seed", "1"])
        assert np.all(np.isfinite(result)) and len(result) > 0
    assert "Sequential(" in capsys.readouterr().out


def test_architecture_refuses_another_architectures_state_dict():
    torch = require_torch()
    models = torch_models(torch)
    sentiment, attention = load_example("sentiment_lstm"), load_example("attention_classifier")
    with pytest.raises(ValueError, match=r"unexpected key 'attention.proj.weight'.*no piece named 'attention'"):
        sentiment.build(models["attention_classifier"][0](*models["attention_classifier"][1]).state_dict())
    with pytest.raises(ValueError, match=r"missing key 'attention.proj.weight'"):
        attention.build(models["sentiment_lstm"][0](*models["sentiment_lstm"][1]).state_dict())
    with pytest.raises(ValueError, match=r"unexpected key 'norm.weight'"):
        sentiment.build(models["sequence_classifier"][0](*models["sequence_classifier"][1]).state_dict())
