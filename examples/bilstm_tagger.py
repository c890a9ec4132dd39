"""Sequence tagger without torch: Embedding -> bidirectional LSTM over packed sequences -> a Linear on every
time step (tag logits per token), as for part-of-speech or named-entity tagging.

The torch model whose state dict this loads (tests/test_architectures.py checks the two agree):

    class BiLSTMTagger(nn.Module):
        def __init__(self, vocab, embed, hidden, tags):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
            self.tagger = nn.Linear(2 * hidden, tags)

        def forward(self, ids, lengths):                  # ids (B, T) padded with 0, lengths (B,)
            packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=ids.shape[1])
            return self.tagger(out)                       # (B, T, tags); steps past a length see zeros

Save a trained one with torch.save(model.state_dict(), "tagger.pt"), then
    python examples/bilstm_tagger.py --weights tagger.pt
Without --weights the architecture gets random (untrained) weights, to show the plumbing; the ids are random.
"""
import argparse

import numpy as np

import fastrnn
from fastrnn.nn import Embedding, Linear, Sequential

LAYOUT = [("embedding", Embedding, {"padding_idx": 0}), ("lstm", fastrnn.LSTM, {"batch_first": True}),
          ("tagger", Linear)]


def build(state_dict):
    """The model: ids (B, T), lengths (B,) -> (B, T, tags) logits; sizes are read from the weights."""
    return Sequential.from_state_dict(state_dict, LAYOUT)


def untrained_state_dict(vocab=2000, embed=32, hidden=48, tags=9, seed=0):
    """Random weights under the torch model's names and shapes."""
    pieces = {"embedding": Embedding(vocab, embed, padding_idx=0, seed=seed),
              "lstm": fastrnn.LSTM(embed, hidden, bidirectional=True, seed=seed),
              "tagger": Linear(2 * hidden, tags, seed=seed)}
    return Sequential(pieces).state_dict()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a torch.save / safetensors file of BiLSTMTagger's state dict")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    state = fastrnn.load(args.weights) if args.weights else untrained_state_dict(seed=args.seed)
    model = build(state)
    rng = np.random.default_rng(args.seed)
    lengths = rng.integers(1, args.max_len + 1, args.batch)
    ids = rng.integers(1, model.embedding.num_embeddings, (args.batch, args.max_len))
    ids[np.arange(args.max_len)[None, :] >= lengths[:, None]] = 0          # padding id after each length
    tags = model(ids, lengths=lengths).argmax(axis=-1)                      # (B, T)
    print(model)
    for row, length in enumerate(lengths):
        pairs = " ".join(f"{token}/{tag}" for token, tag in zip(ids[row, :length], tags[row, :length]))
        print(f"token/tag: {pairs}")
    return tags


if __name__ == "__main__":
    main()
