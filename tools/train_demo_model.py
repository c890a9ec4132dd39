"""Train the character language model that `python -m fastrnn demo` ships, with torch (training only).

Text: "Alice's Adventures in Wonderland" by Lewis Carroll (1865, public domain), the Millennium Fulcrum Edition 2.9
plain text (Project Gutenberg eBook #11, the `alice29.txt` of the Canterbury compression corpus, with Unix line
ends and without its trailing end-of-file byte), shipped as examples/data/alice.txt. Each paragraph becomes one line with single spaces; the edition's opening quote "`"
becomes "'". The last 5% of the text is held out for validation.

Model (torch names, which the saved state dict keeps):
    embedding  torch.nn.Embedding(V, 32)                               ids (B, T) -> (B, T, 32)
    lstm       torch.nn.LSTM(32, 128, num_layers=2, batch_first=True)  -> (B, T, 128)
    head       torch.nn.Linear(128, V)                                 -> logits (B, T, V) of the next character

Training: 2000 steps on windows of 80 characters at random offsets, batch 32, Adam (lr 3e-3, halved after each
third of the steps), gradient-norm clipping at 1, dropout 0.1 between the LSTM layers; the weights with the lowest
validation loss (checked every 250 steps) are kept. About 2.5 minutes of CPU time on one thread (the shipped
model took 8 minutes of wall time on a shared, heavily loaded 2-core machine); validation loss 1.51 nats/char.

Reproduce (from the repository root, torch installed):
    python tools/train_demo_model.py            # writes fastrnn/data/charlm.pt and fastrnn/data/charlm.json
Output: charlm.pt, `torch.save(model.state_dict())` (a torch zip file, float32); charlm.json, the alphabet (the
row of each character in the embedding and the head), the sizes, the data source and the validation loss.
torch's kernels differ between builds and machines, so another run gives a model of the same quality, not the
same bytes.
"""
import argparse
import json
import os
import re
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = os.path.join(ROOT, "examples", "data", "alice.txt")
OUT = os.path.join(ROOT, "fastrnn", "data")
SOURCE = ("Alice's Adventures in Wonderland by Lewis Carroll (1865, public domain; Millennium Fulcrum Edition 2.9, "
          "Project Gutenberg eBook #11)")


class CharLM(torch.nn.Module):
    """ids (B, T) -> logits (B, T, V): Embedding(V, E) -> LSTM(E, H, num_layers, batch_first) -> Linear(H, V)."""

    def __init__(self, vocab, embed, hidden, layers, dropout):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embedding(ids), state)
        return self.head(out), state


def read_text(path):
    """The book as one paragraph per line, single spaces, "`" as "'"."""
    with open(path, encoding="ascii") as f:
        paragraphs = re.split(r"\n\s*\n", f.read())
    return "\n".join(" ".join(p.split()) for p in paragraphs if p.strip()).replace("`", "'")


def windows(data, offsets, length):
    """Inputs and next-character targets (len(offsets), length) cut from the id array `data`."""
    index = offsets[:, None] + np.arange(length)
    return torch.from_numpy(data[index]), torch.from_numpy(data[index + 1])


def evaluate(model, data, length):
    """Mean cross-entropy (nats per character) over consecutive windows of `data`."""
    model.eval()
    offsets = np.arange(0, len(data) - length - 1, length)
    with torch.inference_mode():
        ids, targets = windows(data, offsets, length)
        logits, _ = model(ids)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    model.train()
    return float(loss)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--window", type=int, default=80)
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=OUT, help="directory for charlm.pt and charlm.json")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    text = read_text(TEXT)
    alphabet = "".join(sorted(set(text)))
    data = np.array([alphabet.index(ch) for ch in text], np.int64)
    split = int(len(data) * 0.95)
    train, valid = data[:split], data[split:]

    model = CharLM(len(alphabet), args.embed, args.hidden, args.layers, dropout=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, args.steps // 3), gamma=0.5)
    best, best_state, start = float("inf"), None, time.perf_counter()
    for step in range(1, args.steps + 1):
        ids, targets = windows(train, rng.integers(0, len(train) - args.window - 1, args.batch), args.window)
        logits, _ = model(ids)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(alphabet)), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == args.steps:
            valid_loss = evaluate(model, valid, args.window)
            if valid_loss < best:
                best, best_state = valid_loss, {k: v.clone() for k, v in model.state_dict().items()}
            print(f"step {step:5d}  train {loss.item():.3f}  valid {valid_loss:.3f} nats/char  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)

    os.makedirs(args.out, exist_ok=True)
    torch.save(best_state, os.path.join(args.out, "charlm.pt"))
    meta = {"alphabet": alphabet, "embedding_dim": args.embed, "hidden_size": args.hidden,
            "num_layers": args.layers, "valid_loss_nats_per_char": round(best, 4), "source": SOURCE,
            "trained_by": " ".join(["tools/train_demo_model.py", *(argv or [])])}
    with open(os.path.join(args.out, "charlm.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"saved {args.out}/charlm.pt and charlm.json; best validation loss {best:.3f} nats/char")


if __name__ == "__main__":
    main()
