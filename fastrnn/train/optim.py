"""Optimizers over NumPy parameter dicts, with torch.optim's update rules (same numbers for the same gradients).

Parameter groups: an optimizer updates one or more (params, grads) pairs, each two dicts {name: array} with the
same keys and shapes (what fastrnn's RNN/LSTM/GRU, Linear and Embedding expose as .params and .grads). Pass
  - one pair                     Adam((lstm.params, lstm.grads), lr=1e-3)
  - a list of pairs or modules   Adam([(lstm.params, lstm.grads), head], lr=1e-3)   (a module: .params, .grads)
step() updates every params array IN PLACE from its grads (the grads are left unchanged); zero_grad() clears
the grads. `lr` is a plain attribute: change it between steps (fastrnn.train.schedules do).
"""
from collections.abc import Mapping

import numpy as np


class Optimizer:
    """Shared machinery: the groups, per-array state, step counting. Subclasses define _update."""

    def __init__(self, groups, lr, weight_decay):
        if not (lr >= 0 and weight_decay >= 0):   # (NaN too: it would turn every weight into NaN)
            raise ValueError(f"lr and weight_decay must be >= 0; got lr={lr}, weight_decay={weight_decay}")
        self.groups = _as_groups(groups)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.steps = 0
        # state[g][name]: this optimizer's buffers (moments, momentum) of groups[g][0][name]
        self.state = [{name: {} for name in params} for params, _ in self.groups]

    def step(self):
        """One update of every parameter array from its gradient (in place)."""
        self.steps += 1
        for (params, grads), state in zip(self.groups, self.state):
            for name, p in params.items():
                self._update(p, grads[name], state[name])

    def zero_grad(self):
        """Set every gradient array of every group to zero (in place)."""
        for _, grads in self.groups:
            for g in grads.values():
                g.fill(0)

    def _update(self, p, g, state):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (torch.optim.SGD's rule).

        g  = grad + weight_decay * p
        b  = g                                   (first step)
        b  = momentum * b + (1 - dampening) * g  (later steps)
        p -= lr * (g + momentum * b)  if nesterov  else  lr * b        (momentum = 0: p -= lr * g)
    """

    def __init__(self, groups, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(groups, lr, weight_decay)
        if not momentum >= 0:
            raise ValueError(f"momentum must be >= 0; got {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            b = state.get("momentum")
            if b is None:
                b = state["momentum"] = g.copy()
            else:
                b *= self.momentum
                b += (1.0 - self.dampening) * g
            g = g + self.momentum * b if self.nesterov else b
        p -= self.lr * g


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015; torch.optim.Adam's rule), or AdamW with decoupled=True.

        g  = grad + weight_decay * p             (L2 penalty in the gradient: Adam, decoupled=False)
        p *= 1 - lr * weight_decay               (decoupled weight decay: AdamW, decoupled=True)
        m  = beta1 m + (1 - beta1) g             v = beta2 v + (1 - beta2) g^2      (m = v = 0 at start)
        p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)            t = 1, 2, ... the step
    As torch.optim.AdamW, decoupled=True needs weight_decay > 0 to differ from Adam (torch's AdamW default is
    0.01; here weight_decay defaults to 0 for both).
    """

    def __init__(self, groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        super().__init__(groups, lr, weight_decay)
        beta1, beta2 = betas
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0 and eps >= 0):
            raise ValueError(f"betas must lie in [0, 1) and eps >= 0; got betas={betas}, eps={eps}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.decoupled = bool(decoupled)

    def _update(self, p, g, state):
        if self.weight_decay and self.decoupled:
            p *= 1.0 - self.lr * self.weight_decay
        elif self.weight_decay:
            g = g + self.weight_decay * p
        if not state:
            state["m"], state["v"] = np.zeros_like(p), np.zeros_like(p)
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * g * g
        step_size = self.lr / (1.0 - self.beta1 ** self.steps)
        denom = np.sqrt(v) / np.sqrt(1.0 - self.beta2 ** self.steps) + self.eps
        p -= step_size * m / denom


def _as_groups(groups):
    """[(params, grads), ...] from one pair, one module, or a list of pairs and modules; keys/shapes checked."""
    if hasattr(groups, "params") or (isinstance(groups, tuple) and len(groups) == 2
                                     and all(isinstance(d, Mapping) for d in groups)):
        groups = [groups]
    pairs = []
    for k, group in enumerate(groups):
        params, grads = (group.params, group.grads) if hasattr(group, "params") else group
        if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
            raise TypeError(f"group {k}: expected (params, grads) dicts of arrays or an object with .params and "
                            f".grads; got {type(params).__name__}, {type(grads).__name__}")
        if set(params) != set(grads):
            raise KeyError(f"group {k}: params and grads have different keys: {sorted(set(params) ^ set(grads))}")
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or p.shape != np.shape(grads[name]):
                raise ValueError(f"group {k}: params[{name!r}] must be an array shaped like grads[{name!r}] "
                                 f"{np.shape(grads[name])}; got {type(p).__name__} {np.shape(p)}")
        pairs.append((params, grads))
    if not pairs:
        raise ValueError("an optimizer needs at least one (params, grads) group")
    return pairs
