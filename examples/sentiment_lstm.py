"""Sentiment model (IMDB-style) without torch: Embedding -> LSTM -> last valid step -> Linear -> sigmoid.

The torch model whose state dict this loads (tests/test_architectures.py checks the two agree):

    class SentimentLSTM(nn.Module):
        def __init__(self, vocab, embed, hidden):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, 1)

        def forward(self, ids, lengths):                  # ids (B, T) padded with 0, lengths (B,)
            packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(packed)               # h_n[-1]: each review's last valid step
            return torch.sigmoid(self.fc(h_n[-1]))        # (B, 1): probability the review is positive

Save a trained one with torch.save(model.state_dict(), "sentiment.pt"), then
    python examples/sentiment_lstm.py --weights sentiment.pt
Without --weights the same architecture gets random (untrained) weights, to show the plumbing. The token ids
here are random too: a real run maps words to the ids of the vocabulary the model was trained with.
"""
import argparse

import numpy as np

import fastrnn
from fastrnn.nn import Embedding, LastStep, Linear, Sequential, Sigmoid

# (piece name = the torch attribute name, fastrnn class, options the weights do not tell)
LAYOUT = [("embedding", Embedding, {"padding_idx": 0}), ("lstm", fastrnn.LSTM, {"batch_first": True}),
          ("last", LastStep, {"batch_first": True}), ("fc", Linear), ("sigmoid", Sigmoid)]


def build(state_dict):
    """The model: ids (B, T), lengths (B,) -> (B, 1) probabilities; sizes are read from the weights."""
    return Sequential.from_state_dict(state_dict, LAYOUT)


def untrained_state_dict(vocab=2000, embed=32, hidden=64, seed=0):
    """Random weights under the torch model's names and shapes."""
    pieces = {"embedding": Embedding(vocab, embed, padding_idx=0, seed=seed),
              "lstm": fastrnn.LSTM(embed, hidden, seed=seed), "fc": Linear(hidden, 1, seed=seed)}
    return Sequential(pieces).state_dict()


def padded_batch(rng, vocab, batch, max_len):
    """ids (B, T) with ids in [1, vocab) up to each row's length and the padding id 0 after it; lengths (B,)."""
    lengths = rng.integers(1, max_len + 1, batch)
    ids = rng.integers(1, vocab, (batch, max_len))
    ids[np.arange(max_len)[None, :] >= lengths[:, None]] = 0
    return ids, lengths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a torch.save / safetensors file of SentimentLSTM's state dict")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-len", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    state = fastrnn.load(args.weights) if args.weights else untrained_state_dict(seed=args.seed)
    model = build(state)
    ids, lengths = padded_batch(np.random.default_rng(args.seed), model.embedding.num_embeddings, args.batch,
                                args.max_len)
    probs = model(ids, lengths=lengths)[:, 0]
    print(model)
    for length, p in zip(lengths, probs):
        print(f"review of {length:3d} tokens: P(positive) = {p:.3f}")
    return probs


if __name__ == "__main__":
    main()
