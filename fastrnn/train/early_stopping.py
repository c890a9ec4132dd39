"""Early stopping: stop when a monitored metric has not improved for `patience` epochs (Keras' rule).

    improved  <=>  metric < best - min_delta   (mode "min", e.g. a validation loss)
                   metric > best + min_delta   (mode "max", e.g. an accuracy)
    stop      <=>  epochs since the last improvement >= patience      (patience >= 1)
The first metric always improves on best = +inf (or -inf); NaN never improves.
"""
import numpy as np

from .. import _validation as v


class EarlyStopping:
    """stopper = EarlyStopping(patience=5); each epoch: `if stopper.step(val_loss, model_state): break`.

    Attributes: best (the best metric so far), best_epoch (0-based index of the step() call that set it),
    best_state (a copy of the `state` passed with the best metric, or None), wait (epochs since that one).
    """

    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        self.patience = v.as_positive_int(patience, "patience")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0; got {min_delta}")
        self.min_delta = float(min_delta)
        self.mode = v.check_choice(mode, "mode", ("min", "max"))
        self.best = np.inf if mode == "min" else -np.inf
        self.best_epoch = None
        self.best_state = None
        self.epoch = 0
        self.wait = 0

    def step(self, metric, state=None):
        """Record one epoch's metric; returns True when training should stop.

        state (optional): a dict {name: array} (e.g. a state_dict()) copied into best_state on improvement.
        """
        metric = float(metric)
        if self.improves(metric):
            self.best, self.best_epoch, self.wait = metric, self.epoch, 0
            if state is not None:
                self.best_state = {name: np.array(value, copy=True) for name, value in state.items()}
        else:
            self.wait += 1
        self.epoch += 1
        return self.wait >= self.patience

    def improves(self, metric):
        """Whether `metric` beats the best so far by more than min_delta (does not record it)."""
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta
