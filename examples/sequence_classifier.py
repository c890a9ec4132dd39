"""Sequence classifier without torch: Embedding -> 2-layer LSTM over packed (variable-length) sequences ->
LayerNorm -> mean over each sequence's valid steps -> Linear (class logits).

The torch model whose state dict this loads (tests/test_architectures.py checks the two agree):

    class SequenceClassifier(nn.Module):
        def __init__(self, vocab, embed, hidden, classes):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True, dropout=0.2)
            self.norm = nn.LayerNorm(hidden)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, ids, lengths):                  # ids (B, T) padded with 0, lengths (B,)
            packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=ids.shape[1])
            out = self.norm(out)                          # (B, T, H)
            valid = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
            return self.fc((out * valid).sum(1) / lengths[:, None])   # (B, C)

Save a trained one with torch.save(model.state_dict(), "classifier.pt"), then
    python examples/sequence_classifier.py --weights classifier.pt
Without --weights the architecture gets random (untrained) weights, to show the plumbing; the ids are random.
"""
import argparse

import numpy as np

import fastrnn
from fastrnn.nn import Embedding, LayerNorm, Linear, MeanPool, Sequential, softmax

LAYOUT = [("embedding", Embedding, {"padding_idx": 0}), ("lstm", fastrnn.LSTM, {"batch_first": True}),
          ("norm", LayerNorm), ("pool", MeanPool, {"batch_first": True}), ("fc", Linear)]


def build(state_dict):
    """The model: ids (B, T), lengths (B,) -> (B, C) logits; sizes (and the 2 layers) are read from the weights."""
    return Sequential.from_state_dict(state_dict, LAYOUT)


def untrained_state_dict(vocab=2000, embed=32, hidden=64, classes=4, seed=0):
    """Random weights under the torch model's names and shapes."""
    pieces = {"embedding": Embedding(vocab, embed, padding_idx=0, seed=seed),
              "lstm": fastrnn.LSTM(embed, hidden, num_layers=2, seed=seed), "norm": LayerNorm(hidden),
              "fc": Linear(hidden, classes, seed=seed)}
    return Sequential(pieces).state_dict()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a torch.save / safetensors file of SequenceClassifier's state dict")
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--max-len", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    state = fastrnn.load(args.weights) if args.weights else untrained_state_dict(seed=args.seed)
    model = build(state)
    rng = np.random.default_rng(args.seed)
    lengths = rng.integers(1, args.max_len + 1, args.batch)
    ids = rng.integers(1, model.embedding.num_embeddings, (args.batch, args.max_len))
    ids[np.arange(args.max_len)[None, :] >= lengths[:, None]] = 0          # padding id after each length
    probs = softmax(model(ids, lengths=lengths), dim=-1)
    print(model)
    for length, p in zip(lengths, probs):
        print(f"sequence of {length:3d} tokens: class {p.argmax()} (p = {p.max():.3f})")
    return probs


if __name__ == "__main__":
    main()
