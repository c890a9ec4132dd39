"""Character language model: Embedding -> LSTM -> Linear learns to continue English text, with fastrnn alone.

Trained on the opening of "Alice's Adventures in Wonderland" (Lewis Carroll, 1865, public domain; shipped in
examples/data/) with truncated backpropagation through time: the text is cut into B parallel streams read in
chunks of T characters, the LSTM state carries over from chunk to chunk (detached). Adam, gradient-norm
clipping, inter-layer dropout. Prints the loss (nats per character) as it falls, samples some text, then saves
the weights with fastrnn.save and checks the reloaded model gives the same loss.

    python examples/train_charlm.py [--steps 300] [--hidden 128] [--out PATH]   (default: a new temporary directory)
"""
import argparse
import os
import tempfile

import numpy as np

import fastrnn
from fastrnn.train import Adam, Embedding, Linear, clip_grad_norm, cross_entropy, log_softmax

TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "alice_ch1.txt")


class CharLM:
    """ids (B, T) -> logits (B, T, V): Embedding(V, E) -> LSTM(E, H, num_layers) -> Linear(H, V)."""

    def __init__(self, vocab, embed, hidden, layers, dropout, seed):
        self.embedding = Embedding(vocab, embed, seed=seed)
        self.lstm = fastrnn.LSTM(embed, hidden, num_layers=layers, batch_first=True, dropout=dropout, seed=seed)
        self.head = Linear(hidden, vocab, seed=seed)
        self.modules = {"embedding.": self.embedding, "lstm.": self.lstm, "head.": self.head}

    def __call__(self, ids, state=None):
        out, state = self.lstm(self.embedding(ids), state)
        return self.head(out), state

    def train_step(self, ids, targets, state):
        """Forward and backward of one chunk; returns (loss, final state)."""
        emb, emb_cache = self.embedding.forward_train(ids)
        out, state, tape = self.lstm.forward_train(emb, state)
        logits, head_cache = self.head.forward_train(out)
        loss, d_logits = cross_entropy(logits, targets)
        d_emb, _ = self.lstm.backward(tape, self.head.backward(head_cache, d_logits))
        self.embedding.backward(emb_cache, d_emb)
        return loss, state

    def state_dict(self):
        return {prefix + k: v for prefix, m in self.modules.items() for k, v in m.state_dict().items()}

    def load_state_dict(self, sd):
        for prefix, module in self.modules.items():
            module.load_state_dict({k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)})


def streams(ids, batch):
    """The text as `batch` parallel streams (batch, n)."""
    n = len(ids) // batch
    return ids[:n * batch].reshape(batch, n)


def sample(model, alphabet, prompt, length, rng):
    index = {ch: i for i, ch in enumerate(alphabet)}
    ids = np.array([[index[ch] for ch in prompt]])
    logits, state = model(ids)
    text = prompt
    for _ in range(length):
        p = np.exp(log_softmax(logits[0, -1].astype(np.float64)))
        nxt = rng.choice(len(alphabet), p=p / p.sum())
        text += alphabet[nxt]
        logits, state = model(np.array([[nxt]]), state)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="where to save the weights (default: charlm.safetensors in a "
                                                     "new temporary directory)")
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join(tempfile.mkdtemp(prefix="fastrnn-example-"), "charlm.safetensors")

    with open(TEXT, encoding="utf-8") as f:
        text = f.read()
    alphabet = sorted(set(text))
    index = {ch: i for i, ch in enumerate(alphabet)}
    data = streams(np.array([index[ch] for ch in text]), args.batch)      # (B, n)
    rng = np.random.default_rng(args.seed)
    model = CharLM(len(alphabet), 32, args.hidden, args.layers, dropout=0.1, seed=args.seed)
    optimizer = Adam(list(model.modules.values()), lr=args.lr)

    state, position, losses = None, 0, []
    for step in range(1, args.steps + 1):
        if position + args.chunk + 1 > data.shape[1]:
            state, position = None, 0                                      # back to the start of the streams
        ids = data[:, position:position + args.chunk]
        targets = data[:, position + 1:position + args.chunk + 1]
        position += args.chunk
        loss, state = model.train_step(ids, targets, state)
        clip_grad_norm([m.grads for m in model.modules.values()], 1.0)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss)
        if step == 1 or step % 25 == 0:
            print(f"step {step:4d}  loss {np.mean(losses[-25:]):.3f} nats/char")

    print("sample:", repr(sample(model, alphabet, "Alice ", 120, rng)))
    fastrnn.save(args.out, model.state_dict())
    reloaded = CharLM(len(alphabet), 32, args.hidden, args.layers, dropout=0.1, seed=args.seed + 1)
    reloaded.load_state_dict(fastrnn.load(args.out))
    probe = data[:, :args.chunk]
    before = cross_entropy(model(probe)[0], data[:, 1:args.chunk + 1])[0]
    after = cross_entropy(reloaded(probe)[0], data[:, 1:args.chunk + 1])[0]
    print(f"saved to {args.out}; loss on the first chunk: {before:.4f} before, {after:.4f} after reloading")
    return {"first": losses[0], "last": float(np.mean(losses[-25:])), "before": before, "after": after}


if __name__ == "__main__":
    main()
