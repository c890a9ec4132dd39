"""`python -m fastrnn demo`: a character language model trained in torch, run by fastrnn without torch.

The model (Embedding -> 2-layer LSTM -> Linear, trained on "Alice's Adventures in Wonderland" by
tools/train_demo_model.py) ships inside the package as a torch.save file, fastrnn/data/charlm.pt, with its
alphabet in charlm.json beside it. fastrnn.load reads the file without torch; LSTM.from_state_dict and the
Embedding and Linear of fastrnn.nn take the weights under torch's names. The demo continues a prompt one
character at a time with LSTM.step() (greedily, or sampled when --seed is given), then times the same work in
fastrnn, in the naive NumPy implementation (fastrnn.reference) and, when installed, in torch and ONNX Runtime on
the same weights.

    python -m fastrnn demo [--prompt TEXT] [--length N] [--seed S] [--temperature T] [--model PATH.pt]
"""
import argparse
import json
import os
import sys
import textwrap
import time
from collections.abc import Mapping

import numpy as np

from .io import FormatError, load
from .layers import LSTM
from .nn import Embedding, Linear

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "charlm.pt")
SCORE_BATCH, SCORE_STEPS = 16, 200          # the batch workload: logits of B sequences of T characters
TIME_BUDGET_SECONDS = 1.0                   # per engine and workload: no more repeats once this is spent
# --length and --repeat bounds: generating is one step() per character in each engine, and the naive NumPy one
# takes about 1 ms a character, so 100,000 characters already keep the demo busy for minutes
MAX_LENGTH, MAX_REPEAT = 100_000, 100
META_MAX_BYTES = 1 << 20                    # the JSON beside a model: an alphabet and a few notes
WIDTH = 80                                  # every line the demo prints fits a classic terminal


class CharLM:
    """A character language model from a torch state dict: ids (B, T) -> logits (B, T, V) of the next character.

        embedding  Embedding(V, E)   "embedding.weight" (V, E)
        lstm       LSTM(E, H, L, batch_first=True)   "lstm.weight_ih_l0", ... (torch.nn.LSTM's names)
        head       Linear(H, V)      "head.weight" (V, H), "head.bias" (V,)

    `alphabet` is the string whose k-th character is token k. run() processes whole sequences, step() one
    character per sequence; both take and return the LSTM state (h (L, B, H), c (L, B, H)), None for zeros.
    """

    def __init__(self, embedding, lstm, head, alphabet):
        self.embedding, self.lstm, self.head, self.alphabet = embedding, lstm, head, alphabet

    @classmethod
    def from_state_dict(cls, state_dict, alphabet):
        """Build from {name: array} (torch.save file contents, via fastrnn.load), each piece by its own
        from_state_dict. FormatError names a missing or unexpected key, or a size that does not fit the others."""
        if not isinstance(alphabet, str) or len(set(alphabet)) != len(alphabet) or not alphabet:
            raise TypeError("alphabet must be a non-empty string of distinct characters (token k = alphabet[k])")
        if not isinstance(state_dict, Mapping):
            raise FormatError(f"a character LM's weights are a state dict {{name: tensor}}; got "
                              f"{type(state_dict).__name__}")
        embedding = Embedding.from_state_dict(state_dict, prefix="embedding.")
        lstm = LSTM.from_state_dict(state_dict, prefix="lstm.", batch_first=True)
        head = Linear.from_state_dict(state_dict, prefix="head.")
        sizes = {"embedding rows": embedding.num_embeddings, "head rows": head.out_features,
                 "alphabet": len(alphabet)}
        if len(set(sizes.values())) != 1:
            raise FormatError(f"the vocabulary sizes disagree: {sizes}")
        if (embedding.embedding_dim, lstm.output_size) != (lstm.input_size, head.in_features) or lstm.bidirectional:
            raise FormatError(f"embedding (E={embedding.embedding_dim}) -> lstm (input {lstm.input_size}, output "
                              f"{lstm.output_size}, bidirectional={lstm.bidirectional}) -> head (input "
                              f"{head.in_features}) do not chain")
        return cls(embedding, lstm, head, alphabet)

    @classmethod
    def load(cls, path=MODEL):
        """The model saved at `path` (a torch.save state dict) with its alphabet from the .json beside it."""
        meta = read_meta(path)
        return cls.from_state_dict(load(path), meta["alphabet"])

    def run(self, ids, state=None):
        """ids (B, T) -> (logits (B, T, V), state): the whole sequences, from `state`."""
        out, state = self.lstm(self.embedding(ids), state)
        return self.head(out), state

    def step(self, ids, state):
        """ids (B,) -> (logits (B, V), state): one character further with LSTM.step()."""
        out, state = self.lstm.step(self.embedding(ids), state)
        return self.head(out), state

    def encode(self, text):
        """Token ids (len(text),) of a string; ValueError naming the characters outside the alphabet."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"the prompt must be a non-empty string; got {text!r}")
        unknown = sorted(set(text) - set(self.alphabet))
        if unknown:
            raise ValueError(f"the prompt has characters the model does not know: {''.join(unknown)!r}; "
                             f"it knows {self.alphabet!r}")
        return np.array([self.alphabet.index(ch) for ch in text], np.int64)

    def decode(self, ids):
        return "".join(self.alphabet[i] for i in ids)


def read_meta(path):
    """The JSON beside a model file (same name, .json): at least {"alphabet": str}."""
    from .io.source import check_regular_file
    meta_path = os.path.splitext(path)[0] + ".json"
    try:
        with open(check_regular_file(meta_path), "rb") as f:
            text = f.read(META_MAX_BYTES + 1)
        if len(text) > META_MAX_BYTES:
            raise FormatError(f"{meta_path} is larger than {META_MAX_BYTES:,} bytes: not a model's notes")
        meta = json.loads(text.decode("utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{meta_path} is missing: a model file needs a JSON beside it with its alphabet") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{meta_path} is not valid JSON (UTF-8): {exc}") from None
    except RecursionError:
        raise FormatError(f"{meta_path} nests too deeply to be read") from None
    alphabet = meta.get("alphabet") if isinstance(meta, dict) else None
    if not isinstance(alphabet, str) or not alphabet or len(set(alphabet)) != len(alphabet):
        raise FormatError(f"{meta_path} must hold an object with the key 'alphabet': a non-empty string of "
                          f"distinct characters")
    return meta


def generate(engine, prompt_ids, length, rng=None, temperature=1.0):
    """Token ids (length,) continuing prompt_ids (T,) with `engine` (CharLM or a fastrnn._demo_engines engine):
    the most likely next character each time, or with a NumPy Generator `rng`, one drawn from
    softmax(logits / temperature)."""
    logits, state = engine.run(prompt_ids[None, :])
    logits = logits[:, -1]                                          # (1, V)
    out = np.empty(length, np.int64)
    for t in range(length):
        out[t] = pick(logits[0], rng, temperature)
        logits, state = engine.step(out[t:t + 1], state)
    return out


def pick(logits, rng, temperature):
    """argmax of logits (V,), or a draw from softmax(logits / temperature) by rng (inverse CDF of one uniform)."""
    if rng is None:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))


def best_time(fn, repeat, budget=TIME_BUDGET_SECONDS):
    """(seconds of the fastest of `repeat` calls, the last result); stops repeating once `budget` seconds have
    been spent (a slow engine on a loaded machine is timed fewer times, not for longer)."""
    best, spent = float("inf"), 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        best, spent = min(best, seconds), spent + seconds
        if spent >= budget:
            break
    return best, result


def main(argv=None):
    from . import _demo_engines
    parser = argparse.ArgumentParser(prog="fastrnn demo", description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="Alice was ", help="text to continue (default: %(default)r)")
    parser.add_argument("--length", type=int, default=200, help="characters to generate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None,
                        help="sample with this seed instead of taking the most likely character (deterministic)")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (with --seed)")
    parser.add_argument("--model", default=MODEL, help="a torch.save state dict with the same keys, and its .json")
    parser.add_argument("--repeat", type=int, default=3,
                        help=f"timed runs per engine (fewer once {TIME_BUDGET_SECONDS:g} s is spent); the fastest "
                             "counts")
    args = parser.parse_args(argv)
    if not (1 <= args.length <= MAX_LENGTH and 1 <= args.repeat <= MAX_REPEAT):
        parser.error(f"--length must lie in [1, {MAX_LENGTH:,}] and --repeat in [1, {MAX_REPEAT}]")
    if not args.temperature > 0:
        parser.error("--temperature must be > 0")
    if args.seed is not None and args.seed < 0:
        parser.error("--seed must be >= 0")

    try:
        meta = read_meta(args.model)
        weights = load(args.model)
        model = CharLM.from_state_dict(weights, meta["alphabet"])
        prompt = model.encode(args.prompt)
    except (OSError, FormatError, ValueError) as exc:
        print(f"fastrnn demo: {exc}", file=sys.stderr)
        return 2

    def continuation(engine):
        rng = None if args.seed is None else np.random.default_rng(args.seed)
        return generate(engine, prompt, args.length, rng, args.temperature)

    describe(model, meta, args.model)
    how = "greedy" if args.seed is None else f"sampled, seed {args.seed}, temperature {args.temperature}"
    text = model.decode(continuation(model))
    print("\n" + paragraph(f"Continuing {args.prompt!r} ({how}), one character per LSTM.step():") + "\n")
    print(indent(args.prompt + text))
    if args.seed is None:
        print("\n(Greedy text from a small model soon repeats itself; --seed N samples instead.)")

    batch = np.random.default_rng(0).integers(0, len(model.alphabet), (SCORE_BATCH, SCORE_STEPS))

    def measure(engine):
        """(generate seconds, generated ids (length,), score seconds, logits of the batch (B, T, V))."""
        gen_s, ids = best_time(lambda: continuation(engine), args.repeat)
        score_s, (logits, _) = best_time(lambda: engine.run(batch), args.repeat)
        return gen_s, ids, score_s, np.asarray(logits)

    print("\ntiming:", end="", file=sys.stderr, flush=True)   # a pause of seconds
    rows = {}
    for name, why_not in {"fastrnn": None, **_demo_engines.available()}.items():
        print(f" {name}...", end="", file=sys.stderr, flush=True)
        rows[name] = measure(model) if name == "fastrnn" else \
            why_not or _measure_other(name, measure, weights, args.model, model.lstm.num_layers)
    print(" done.", file=sys.stderr, flush=True)
    print_table(rows, args, model.decode, text)
    print("\nThe full benchmark (sizes, batches, training): python -m fastrnn bench")
    return 0


def _measure_other(name, measure, weights, path, num_layers):
    """measure() of another engine, or one line saying why it cannot run this model (a model fastrnn runs may be
    one the engine's builder or library does not take: float64 weights in ONNX Runtime, layers without bias)."""
    from . import _demo_engines
    try:
        return measure(_demo_engines.build(name, weights, path, num_layers))
    except Exception as exc:  # noqa: BLE001 - another library's failure on this model: reported, not fatal
        first_line = (str(exc).strip().splitlines() or [""])[0][:70]
        return f"not timed: it cannot run this model ({type(exc).__name__}: {first_line})"


def print_table(rows, args, decode, text):
    """rows: {engine: measure()'s tuple, or the reason it cannot run}; fastrnn's first. Fits WIDTH columns."""
    from ._blas import get_num_threads
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print()
    print(paragraph(f"The same work in each engine, same weights (fastest of up to {args.repeat}; fastrnn on "
                    f"{get_num_threads()} threads; load average {load1:.1f} on {os.cpu_count()} CPUs: a loaded "
                    f"machine shows in the times):", indent=""))
    print()
    gen_header, score_header = f"generate {args.length}", f"score {SCORE_BATCH}x{SCORE_STEPS}"
    print(f"  {'engine':13s} {gen_header:>18s} {score_header:>18s}  same text, max |diff|")
    fast = rows["fastrnn"]
    for name, row in rows.items():
        if not isinstance(row, tuple):
            print(textwrap.fill(row, WIDTH, initial_indent=f"  {name:13s} ", subsequent_indent=" " * 16,
                                break_on_hyphens=False))
            continue
        gen_s, ids, score_s, logits = row
        ratios = ("", "") if name == "fastrnn" else (f" ({gen_s / fast[0]:.1f}x)", f" ({score_s / fast[2]:.1f}x)")
        gen, score = f"{gen_s * 1e3:.1f} ms{ratios[0]}", f"{score_s * 1e3:.1f} ms{ratios[1]}"
        same = "-" if name == "fastrnn" else \
            f"{'yes' if decode(ids) == text else 'NO'}, {np.max(np.abs(logits - fast[3])):.1e}"
        print(f"  {name:13s} {gen:>18s} {score:>18s}  {same}")
    print()
    print(paragraph(f"(x): time relative to fastrnn. Generating {args.length} characters is one step() per "
                    f"character (batch 1, latency-bound); scoring runs {SCORE_BATCH} sequences of {SCORE_STEPS} "
                    f"characters whole (one call)."))


def describe(model, meta, path):
    e, lstm, h = model.embedding, model.lstm, model.head
    params = sum(w.size for m in (e, lstm, h) for w in m.params.values())
    lines = [f"fastrnn demo: a character language model, Embedding({e.num_embeddings}, {e.embedding_dim}) -> "
             f"LSTM({lstm.input_size}, {lstm.hidden_size}, num_layers={lstm.num_layers}) -> "
             f"Linear({h.in_features}, {h.out_features}), {params / 1e3:.0f}k parameters, read from {path} "
             f"(a torch.save file) by fastrnn.load: torch is not used."]
    if isinstance(meta.get("source"), str):
        loss = meta.get("valid_loss_nats_per_char")
        held_out = f"; {loss:.2f} nats/char on held-out text" if isinstance(loss, (int, float)) else ""
        lines.append(f"Trained in torch on {meta['source'][:200]}{held_out}.")
    print(paragraph(" ".join(lines), indent=""))


def indent(text, width=WIDTH):
    """The text wrapped at `width` columns at spaces (never inside a hyphenated word; only a word longer than a
    whole line is cut), each line indented by four spaces (its own newlines kept)."""
    return "\n".join(textwrap.fill(line, width, initial_indent="    ", subsequent_indent="    ",
                                   break_on_hyphens=False) or "    "
                     for line in text.split("\n"))


def paragraph(text, indent="  "):
    """text wrapped at WIDTH columns at spaces, its lines after the first indented by `indent`."""
    return textwrap.fill(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False)
