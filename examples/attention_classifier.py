"""Attention classifier without torch: Embedding -> LSTM -> additive (Bahdanau) attention over the LSTM's
states, masked by lengths -> Linear (class logits).

The torch model whose state dict this loads (tests/test_architectures.py checks the two agree):

    class AdditiveAttention(nn.Module):               # fastrnn.nn.AdditiveAttention's parameters and formula
        def __init__(self, features, size):
            super().__init__()
            self.proj = nn.Linear(features, size)
            self.score = nn.Linear(size, 1, bias=False)

        def forward(self, out, lengths):                  # out (B, T, F)
            scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
            valid = torch.arange(out.shape[1])[None, :] < lengths[:, None]
            weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
            return (weights.unsqueeze(-1) * out).sum(1)   # (B, F)

    class AttentionClassifier(nn.Module):
        def __init__(self, vocab, embed, hidden, attention, classes):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True)
            self.attention = AdditiveAttention(hidden, attention)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, ids, lengths):
            packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=ids.shape[1])
            return self.fc(self.attention(out, lengths))  # (B, C)

Save a trained one with torch.save(model.state_dict(), "attention.pt"), then
    python examples/attention_classifier.py --weights attention.pt
Without --weights the architecture gets random (untrained) weights, to show the plumbing; the ids are random.
"""
import argparse

import numpy as np

import fastrnn
from fastrnn.nn import AdditiveAttention, Embedding, Linear, Sequential, softmax

LAYOUT = [("embedding", Embedding, {"padding_idx": 0}), ("lstm", fastrnn.LSTM, {"batch_first": True}),
          ("attention", AdditiveAttention, {"batch_first": True}), ("fc", Linear)]


def build(state_dict):
    """The model: ids (B, T), lengths (B,) -> (B, C) logits; sizes are read from the weights."""
    return Sequential.from_state_dict(state_dict, LAYOUT)


def untrained_state_dict(vocab=2000, embed=32, hidden=64, attention=32, classes=3, seed=0):
    """Random weights under the torch model's names and shapes."""
    pieces = {"embedding": Embedding(vocab, embed, padding_idx=0, seed=seed),
              "lstm": fastrnn.LSTM(embed, hidden, seed=seed),
              "attention": AdditiveAttention(hidden, attention, seed=seed), "fc": Linear(hidden, classes, seed=seed)}
    return Sequential(pieces).state_dict()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a torch.save / safetensors file of AttentionClassifier's state dict")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    state = fastrnn.load(args.weights) if args.weights else untrained_state_dict(seed=args.seed)
    model = build(state)
    rng = np.random.default_rng(args.seed)
    lengths = rng.integers(1, args.max_len + 1, args.batch)
    ids = rng.integers(1, model.embedding.num_embeddings, (args.batch, args.max_len))
    ids[np.arange(args.max_len)[None, :] >= lengths[:, None]] = 0          # padding id after each length
    probs = softmax(model(ids, lengths=lengths), dim=-1)
    states, _ = model.lstm(model.embedding(ids), lengths=lengths)           # what the attention looks at
    weights = model.attention.weights(states, lengths)                      # (B, T), zero past each length
    print(model)
    for p, w, length in zip(probs, weights, lengths):
        top = np.argsort(-w[:length])[:3]
        attended = ", ".join(f"{t} ({w[t]:.3f})" for t in top)
        print(f"sequence of {length:3d} tokens: class {p.argmax()} (p = {p.max():.3f}); most attended steps "
              f"(weight): {attended}")
    return probs


if __name__ == "__main__":
    main()
