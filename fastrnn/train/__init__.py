"""Training utilities around the layers' forward_train/backward, in plain NumPy.

    from fastrnn.train import Adam, Linear, cross_entropy, clip_grad_norm
    lstm, head = fastrnn.LSTM(I, H, batch_first=True), Linear(H, C)
    opt = Adam([lstm, head], lr=1e-3)             # groups: modules with .params/.grads, or (params, grads) pairs
    out, _, tape = lstm.forward_train(x)           # (B, T, H)
    logits, cache = head.forward_train(out)        # (B, T, C)
    loss, dlogits = cross_entropy(logits, y)
    lstm.backward(tape, head.backward(cache, dlogits))
    clip_grad_norm([lstm.grads, head.grads], 1.0)
    opt.step(); opt.zero_grad()

One job per module: optim (Adam/AdamW, SGD), clip, schedules, init, early_stopping, linear, embedding, losses,
dropout, progress.
"""
from .clip import clip_grad_norm, clip_grad_value
from .dropout import dropout
from .early_stopping import EarlyStopping
from .embedding import Embedding
from .init import initialize, orthogonal, xavier_normal, xavier_uniform
from .linear import Linear
from .losses import cross_entropy, log_softmax, mse_loss
from .optim import SGD, Adam, Optimizer
from .progress import Progress, progress
from .schedules import ExponentialLR, InverseTimeLR, Schedule, StepLR

__all__ = [
    "Adam", "SGD", "Optimizer",
    "clip_grad_norm", "clip_grad_value",
    "InverseTimeLR", "StepLR", "ExponentialLR", "Schedule",
    "initialize", "orthogonal", "xavier_uniform", "xavier_normal",
    "EarlyStopping",
    "Linear", "Embedding",
    "mse_loss", "cross_entropy", "log_softmax",
    "dropout",
    "progress", "Progress",
]
