"""Time-series regressor without torch: a 2-layer GRU reads a window of a series, a Linear head on its last step
predicts the next value.

The torch model whose state dict this loads (tests/test_architectures.py checks the two agree):

    class GRURegressor(nn.Module):
        def __init__(self, features, hidden):
            super().__init__()
            self.gru = nn.GRU(features, hidden, num_layers=2, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):                             # x (B, T, F): B windows of T steps
            out, _ = self.gru(x)
            return self.head(out[:, -1])                  # (B, 1)

Save a trained one with torch.save(model.state_dict(), "regressor.pt"), then
    python examples/gru_regressor.py --weights regressor.pt
Without --weights the architecture gets random (untrained) weights, to show the plumbing. The series are noisy
sine waves, one per input feature (the first is the target), cut into windows.
"""
import argparse

import numpy as np

import fastrnn
from fastrnn.nn import LastStep, Linear, Sequential

LAYOUT = [("gru", fastrnn.GRU, {"batch_first": True}), ("last", LastStep, {"batch_first": True}),
          ("head", Linear)]


def build(state_dict):
    """The model: windows x (B, T, F) -> (B, 1); sizes (and the 2 layers) are read from the weights."""
    return Sequential.from_state_dict(state_dict, LAYOUT)


def untrained_state_dict(features=1, hidden=32, seed=0):
    """Random weights under the torch model's names and shapes."""
    pieces = {"gru": fastrnn.GRU(features, hidden, num_layers=2, seed=seed), "head": Linear(hidden, 1, seed=seed)}
    return Sequential(pieces).state_dict()


def windows(series, length):
    """(B, T, F) windows series[i:i + T] of series (N, F), and the value of feature 0 after each, (B,)."""
    starts = np.arange(len(series) - length)
    x = series[starts[:, None] + np.arange(length)[None, :]]
    return x.astype(np.float32), series[starts + length, 0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a torch.save / safetensors file of GRURegressor's state dict")
    parser.add_argument("--window", type=int, default=24)
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    state = fastrnn.load(args.weights) if args.weights else untrained_state_dict(seed=args.seed)
    model = build(state)
    rng = np.random.default_rng(args.seed)
    t = np.arange(args.window + args.points)[:, None]
    frequencies = 0.3 * (1 + np.arange(model.gru.input_size))[None, :]
    series = np.sin(frequencies * t) + 0.05 * rng.standard_normal((t.size, frequencies.size))   # (N, F)
    x, target = windows(series, args.window)
    pred = model(x)[:, 0]
    print(model)
    print(f"{len(x)} windows of {args.window} steps: mean squared error {np.mean((pred - target) ** 2):.4f}")
    for p, y in list(zip(pred, target))[:5]:
        print(f"predicted {p:+.3f}, actual {y:+.3f}")
    return pred


if __name__ == "__main__":
    main()
