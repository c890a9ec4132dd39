"""Time-series prediction: an LSTM learns to continue sine waves, trained with fastrnn alone (no torch).

Each sequence is a sine of random frequency, phase and amplitude; the model (LSTM -> Linear) reads it and
predicts the next value at every step (MSE). Training uses Adam, gradient-norm clipping, 1/(1 + d epoch)
learning-rate decay, orthogonal/Xavier init with forget-gate bias 1, and early stopping on a validation set.
The trained weights are saved with fastrnn.save, reloaded, and checked to give the same predictions.

    python examples/train_sine.py [--epochs 40] [--hidden 32] [--out PATH]   (default: a new temporary directory)
"""
import argparse
import os
import tempfile

import numpy as np

import fastrnn
from fastrnn.train import Adam, EarlyStopping, InverseTimeLR, Linear, clip_grad_norm, initialize, mse_loss


def make_waves(n, steps, rng):
    """x (n, steps, 1): the waves; y (n, steps, 1): each next value."""
    t = np.arange(steps + 1)
    freq = rng.uniform(0.03, 0.15, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.0, (n, 1))
    waves = (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
    return waves[:, :-1, None], waves[:, 1:, None]


def evaluate(lstm, head, x, y):
    out, _ = lstm(x)
    return mse_loss(head(out), y)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="where to save the weights (default: sine.safetensors in a "
                                                     "new temporary directory)")
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join(tempfile.mkdtemp(prefix="fastrnn-example-"), "sine.safetensors")

    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_waves(512, args.steps, rng)
    x_val, y_val = make_waves(128, args.steps, rng)
    lstm = fastrnn.LSTM(1, args.hidden, batch_first=True, seed=args.seed)
    head = Linear(args.hidden, 1, seed=args.seed)
    initialize(lstm.params, "orthogonal", rng=rng, forget_bias=1.0)
    initialize(head.params, "xavier_uniform", rng=rng)
    optimizer = Adam([lstm, head], lr=args.lr)
    schedule = InverseTimeLR(optimizer, decay=0.05)
    stopper = EarlyStopping(patience=5, min_delta=1e-5)

    first_val = evaluate(lstm, head, x_val, y_val)
    print(f"epoch  0  val mse {first_val:.5f}")
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), args.batch):
            idx = order[start:start + args.batch]
            out, _, tape = lstm.forward_train(x_train[idx])           # (b, T, H)
            pred, cache = head.forward_train(out)                      # (b, T, 1)
            loss, d_pred = mse_loss(pred, y_train[idx])
            lstm.backward(tape, head.backward(cache, d_pred))
            clip_grad_norm([lstm.grads, head.grads], 1.0)
            optimizer.step()
            optimizer.zero_grad()
        schedule.step()
        val = evaluate(lstm, head, x_val, y_val)
        print(f"epoch {epoch:2d}  train mse {loss:.5f}  val mse {val:.5f}  lr {optimizer.lr:.4f}")
        if stopper.step(val, {**prefixed("lstm.", lstm.state_dict()), **prefixed("head.", head.state_dict())}):
            print(f"early stop: no improvement for {stopper.patience} epochs")
            break

    best = stopper.best_state
    fastrnn.save(args.out, best)
    reloaded = fastrnn.load(args.out)
    lstm2 = fastrnn.LSTM.from_state_dict(reloaded, prefix="lstm.", batch_first=True)
    head2 = Linear(args.hidden, 1)
    head2.load_state_dict({k[len("head."):]: v for k, v in reloaded.items() if k.startswith("head.")})
    final_val = evaluate(lstm2, head2, x_val, y_val)
    print(f"best val mse {stopper.best:.5f} (epoch {stopper.best_epoch + 1}); saved to {args.out}, reloaded: "
          f"val mse {final_val:.5f}")
    return {"first": first_val, "best": stopper.best, "reloaded": final_val}


def prefixed(prefix, state):
    return {prefix + key: value for key, value in state.items()}


if __name__ == "__main__":
    main()
