"""fastrnn.train: optimizers and clipping against torch, schedules, initialisers, early stopping, the Linear head,
Embedding and losses (float64 4th-order central differences and torch autograd), dropout, progress display.

Gradient checks use L = sum(y * dy) for a module y = f(x), so dL/dy = dy.
"""
import io

import numpy as np
import pytest

import fastrnn
from conftest import GRAD_RTOL, assert_close, fourth_order_difference, require_torch
from fastrnn.train import (SGD, Adam, EarlyStopping, Embedding, ExponentialLR, InverseTimeLR, Linear, Progress,
                           StepLR, clip_grad_norm, clip_grad_value, cross_entropy, dropout, initialize, mse_loss,
                           orthogonal, progress, xavier_normal, xavier_uniform)

FD_RTOL = GRAD_RTOL[np.float64]  # 1e-6
EXACT = 1e-12                    # same float64 arithmetic as torch, up to rounding


def random_groups(rng, dtype=np.float64):
    """Two (params, grads) groups of differently shaped arrays."""
    shapes = [{"weight": (4, 3), "bias": (4,)}, {"weight_hh_l0": (6, 2)}]
    return [({k: rng.standard_normal(s).astype(dtype) for k, s in group.items()},
             {k: np.zeros(s, dtype) for k, s in group.items()}) for group in shapes]


# --------------------------------------------------------------------------------------------------- optimizers
OPTIMIZERS = {
    "sgd": (SGD, "SGD", dict(lr=0.1)),
    "sgd_momentum": (SGD, "SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_dampening_decay": (SGD, "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    "sgd_nesterov": (SGD, "SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "adam": (Adam, "Adam", dict(lr=0.01)),
    "adam_l2": (Adam, "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "adamw": (Adam, "AdamW", dict(lr=0.01, weight_decay=0.1, decoupled=True)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_matches_torch(name):
    """Same start, same gradients each step (two groups), same parameters after 6 steps, within 1e-12."""
    torch = require_torch()
    cls, torch_name, options = OPTIMIZERS[name]
    rng = np.random.default_rng(1)
    groups = random_groups(rng)
    arrays = [(params[k], grads[k]) for params, grads in groups for k in params]
    tensors = [torch.tensor(p, requires_grad=True) for p, _ in arrays]
    torch_options = {k: val for k, val in options.items() if k != "decoupled"}
    torch_opt = getattr(torch.optim, torch_name)(tensors, **torch_options)
    opt = cls(groups, **options)
    for _ in range(6):
        for (_, g), t in zip(arrays, tensors):
            g[...] = rng.standard_normal(g.shape)
            t.grad = torch.tensor(g)
        opt.step()
        torch_opt.step()
    for (p, _), t in zip(arrays, tensors):
        assert_close(p, t.detach().numpy(), EXACT, name)


def test_optimizer_groups_accept_pairs_and_modules_and_keep_dtype():
    rng = np.random.default_rng(0)
    head = Linear(3, 2, seed=0)
    (params, grads), = random_groups(rng, np.float32)[:1]
    grads["weight"][...] = 1.0
    head.grads["weight"][...] = 1.0
    before = params["weight"].copy(), head.params["weight"].copy()
    opt = SGD([(params, grads), head], lr=0.5)
    opt.step()
    assert params["weight"].dtype == np.float32
    assert_close(params["weight"], before[0] - 0.5, 1e-7)
    assert_close(head.params["weight"], before[1] - 0.5, 1e-7)
    assert_close(grads["weight"], np.ones((4, 3)), 0.0, "step leaves grads unchanged")
    opt.zero_grad()
    assert not grads["weight"].any() and not head.grads["weight"].any()
    assert len(Adam(head).groups) == 1 and len(Adam((params, grads)).groups) == 1


def test_optimizer_rejects_bad_groups_and_options():
    params, grads = {"w": np.zeros(3)}, {"w": np.zeros(3)}
    with pytest.raises(KeyError, match="different keys"):
        Adam([(params, {"v": np.zeros(3)})])
    with pytest.raises(ValueError, match="shaped like"):
        Adam([(params, {"w": np.zeros(4)})])
    with pytest.raises(TypeError, match=r"\(params, grads\)"):
        SGD([([1.0], [2.0])], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD((params, grads), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam((params, grads), betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="at least one"):
        Adam([])


# ----------------------------------------------------------------------------------------------------- clipping
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = require_torch()
    groups = random_groups(np.random.default_rng(2))
    grads = [g for _, g in groups]
    tensors = [torch.tensor(g[k], requires_grad=True) for g in grads for k in g]
    for t in tensors:
        t.grad = t.detach().clone()
    total = clip_grad_norm(grads, max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type)
    assert total == pytest.approx(float(want), rel=1e-12)
    for got, t in zip([g[k] for g in grads for k in g], tensors):
        assert_close(got, t.grad.numpy(), EXACT)


def test_clip_grad_value_matches_torch_and_takes_one_dict():
    torch = require_torch()
    (_, grads), = random_groups(np.random.default_rng(3))[:1]
    tensors = {k: torch.tensor(g) for k, g in grads.items()}
    clip_grad_value(grads, 0.7)
    for k, t in tensors.items():
        p = torch.zeros_like(t, requires_grad=True)
        p.grad = t
        torch.nn.utils.clip_grad_value_([p], 0.7)
        assert_close(grads[k], p.grad.numpy(), 0.0, k)
    assert np.abs(grads["weight"]).max() <= 0.7


def test_clip_grad_norm_nan_spreads_and_bad_arguments_raise():
    grads = {"w": np.array([1.0, np.nan])}
    assert np.isnan(clip_grad_norm(grads, 1.0)) and np.isnan(grads["w"]).all()
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm({"w": np.ones(2)}, 1.0, norm_type=0.5)
    with pytest.raises(TypeError, match="dict of arrays"):
        clip_grad_value([np.ones(2)], 1.0)


# ---------------------------------------------------------------------------------------------------- schedules
class _Holder:
    lr = 0.1


def test_schedule_values_and_step_updates_lr():
    sched = InverseTimeLR(_Holder(), decay=0.5)
    assert [sched.lr_at(e) for e in range(4)] == pytest.approx([0.1, 0.1 / 1.5, 0.05, 0.1 / 2.5])
    assert sched.step() == pytest.approx(0.1 / 1.5) and sched.optimizer.lr == pytest.approx(0.1 / 1.5)
    assert sched.lr_at(3) == pytest.approx(0.04) and sched.epoch == 1  # lr_at is pure
    assert [StepLR(_Holder(), 2, gamma=0.5).lr_at(e) for e in range(5)] == pytest.approx([.1, .1, .05, .05, .025])
    assert ExponentialLR(_Holder(), 0.9).lr_at(3) == pytest.approx(0.1 * 0.9 ** 3)
    with pytest.raises(ValueError, match="step_size"):
        StepLR(_Holder(), 0)


# name -> (our schedule from an optimizer, torch's from (torch.optim.lr_scheduler, a torch optimizer))
SCHEDULES = {
    "StepLR": (lambda opt: StepLR(opt, 3, gamma=0.5), lambda sched, opt: sched.StepLR(opt, 3, gamma=0.5)),
    "ExponentialLR": (lambda opt: ExponentialLR(opt, 0.8), lambda sched, opt: sched.ExponentialLR(opt, 0.8)),
    "InverseTimeLR": (lambda opt: InverseTimeLR(opt, 0.3),
                      lambda sched, opt: sched.LambdaLR(opt, lambda e: 1 / (1 + 0.3 * e))),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_match_torch(name):
    torch = require_torch()
    ours_of, theirs_of = SCHEDULES[name]
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = theirs_of(torch.optim.lr_scheduler, torch_opt)
    ours = ours_of(SGD(({"w": np.zeros(1)}, {"w": np.zeros(1)}), lr=0.1))
    for _ in range(8):
        torch_opt.step()
        theirs.step()
        assert ours.step() == pytest.approx(torch_opt.param_groups[0]["lr"], rel=1e-12)


# -------------------------------------------------------------------------------------------------- initialisers
@pytest.mark.parametrize("shape,blocks", [((12, 3), 4), ((6, 4), 3), ((8, 8), 1), ((2, 5), 1)])
def test_orthogonal_blocks_are_orthogonal(shape, blocks):
    w = orthogonal(shape, gain=2.0, blocks=blocks, rng=0)
    assert w.shape == shape
    for block in np.split(w / 2.0, blocks):
        r, c = block.shape
        gram = block.T @ block if r >= c else block @ block.T
        assert_close(gram, np.eye(min(r, c)), 1e-12)
    with pytest.raises(ValueError, match="divide"):
        orthogonal((10, 3), blocks=4)


def test_xavier_bounds_and_variance():
    fan_out, fan_in = 300, 200
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    u = xavier_uniform((fan_out, fan_in), rng=0)
    assert np.abs(u).max() <= bound and np.abs(u).max() > 0.99 * bound
    assert u.var() == pytest.approx(bound ** 2 / 3, rel=0.02)          # var of U(-a, a) = a^2 / 3
    n = xavier_normal((fan_out, fan_in), gain=0.5, rng=0)
    assert n.std() == pytest.approx(0.5 * np.sqrt(2.0 / (fan_in + fan_out)), rel=0.02)
    with pytest.raises(ValueError, match="2-D"):
        xavier_uniform((3, 4, 5))


def test_initialize_lstm_with_projection_and_head():
    H, P = 6, 4
    lstm = fastrnn.LSTM(3, H, num_layers=2, bidirectional=True, proj_size=P, dtype=np.float64, seed=0)
    head = Linear(2 * P, 2, dtype=np.float64, seed=0)
    model = {**{f"lstm.{k}": a for k, a in lstm.params.items()}, **{f"head.{k}": a for k, a in head.params.items()}}
    ids = {k: id(a) for k, a in model.items()}
    initialize(model, rng=1)
    assert {k: id(a) for k, a in model.items()} == ids  # in place: the layers see the new values
    for k, a in lstm.params.items():
        if k.startswith("weight_hh"):                     # (4H, P): four (H, P) blocks, orthonormal columns
            for block in np.split(a, 4):
                assert_close(block.T @ block, np.eye(P), 1e-12, k)
        elif k.startswith("bias_ih"):
            assert_close(a, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)], 0.0, k)
        elif k.startswith("bias_hh"):
            assert not a.any()
        else:                                             # weight_ih, weight_hr: Xavier uniform
            assert np.abs(a).max() <= np.sqrt(6.0 / sum(a.shape))
    assert not head.params["bias"].any() and np.abs(head.params["weight"]).max() <= np.sqrt(6.0 / (2 * P + 2))


def test_initialize_gru_and_float32_xavier_scheme():
    gru = fastrnn.GRU(3, 5, seed=0)
    initialize(gru.params, scheme="xavier_normal", rng=0, forget_bias=1.0)
    assert gru.params["weight_hh_l0"].dtype == np.float32
    assert not gru.params["bias_ih_l0"].any()             # no forget gate in a GRU (G = 3)
    cell = initialize({"weight_ih": np.zeros((8, 3)), "weight_hh": np.zeros((8, 2)), "bias_ih": np.zeros(8),
                       "bias_hh": np.zeros(8)}, rng=0)  # torch.nn.LSTMCell's names: H = 2
    assert_close(cell["bias_ih"], [0, 0, 1, 1, 0, 0, 0, 0], 0.0)
    with pytest.raises(ValueError, match="no rule"):
        initialize({"running_mean": np.zeros(3)})
    with pytest.raises(ValueError, match="weight_hh_l0"):
        initialize({"bias_ih_l0": np.zeros(8)})
    with pytest.raises(ValueError, match="scheme"):
        initialize(gru.params, scheme="he")


# ----------------------------------------------------------------------------------------------- early stopping
def test_early_stopping_min_mode_patience_and_best_state():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    state = {"w": np.zeros(2)}
    decisions = []
    for epoch, metric in enumerate([1.0, 0.8, 0.75, 0.5, float("nan"), 0.45, 0.6]):
        state["w"][:] = epoch
        decisions.append(stopper.step(metric, state))
    # 0.75 and 0.45 are within min_delta of the best: no improvement; NaN never improves
    assert decisions == [False, False, False, False, False, True, True]
    assert stopper.best == 0.5 and stopper.best_epoch == 3
    assert_close(stopper.best_state["w"], [3.0, 3.0], 0.0)   # a copy, not the live array


def test_early_stopping_max_mode_and_validation():
    stopper = EarlyStopping(patience=1, mode="max")
    assert [stopper.step(m) for m in [0.5, 0.7, 0.7]] == [False, False, True]
    assert stopper.best == 0.7 and stopper.best_epoch == 1 and stopper.best_state is None
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


# ------------------------------------------------------------------------------------------------------- Linear
def test_linear_gradients_match_finite_differences():
    """x (B, T, I): every leading axis is a batch axis; two backward calls accumulate."""
    rng = np.random.default_rng(4)
    lin = Linear(3, 2, dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 4, 3))
    dy = rng.standard_normal((2, 4, 2))
    y, cache = lin.forward_train(x)
    assert_close(y, lin(x), 0.0)
    dx = lin.backward(cache, dy)

    def loss():
        return float(np.sum(lin.forward(x) * dy))

    assert_close(dx, fourth_order_difference(loss, x), FD_RTOL, "dx")
    for name, value in lin.params.items():
        assert_close(lin.grads[name], fourth_order_difference(loss, value), FD_RTOL, name)
    before = {k: g.copy() for k, g in lin.grads.items()}
    lin.backward(cache, dy)
    for name in before:
        assert_close(lin.grads[name], 2 * before[name], 1e-12, name)
    lin.zero_grad()
    assert not any(g.any() for g in lin.grads.values())


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    torch = require_torch()
    torch.manual_seed(0)
    module = torch.nn.Linear(5, 3, bias=bias)
    lin = Linear(5, 3, bias=bias)
    lin.load_state_dict(module.state_dict())
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    dy = rng.standard_normal((7, 3)).astype(np.float32)
    y, cache = lin.forward_train(x)
    dx = lin.backward(cache, dy)
    tx = torch.from_numpy(x).requires_grad_()
    ty = module(tx)
    (ty * torch.from_numpy(dy)).sum().backward()
    tol = GRAD_RTOL[np.float32]
    assert_close(y, ty.detach().numpy(), tol, "y")
    assert_close(dx, tx.grad.numpy(), tol, "dx")
    for name, param in module.named_parameters():
        assert_close(lin.grads[name], param.grad.numpy(), tol, name)


def test_linear_validation_and_state_dict():
    lin = Linear(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"last axis 3"):
        lin(np.zeros((4, 5), np.float32))
    with pytest.raises(TypeError, match="float64"):
        lin(np.zeros((4, 3)))
    _, cache = lin.forward_train(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="dy has shape"):
        lin.backward(cache, np.zeros((5, 2), np.float32))
    with pytest.raises(KeyError, match="missing keys"):
        lin.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="shape"):
        lin.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)})
    state = lin.state_dict()
    state["weight"] += 1
    assert not np.array_equal(state["weight"], lin.params["weight"])  # a copy
    lin.load_state_dict(state)
    assert_close(lin.params["weight"], state["weight"], 0.0)


# ------------------------------------------------------------------------------------------------------- losses
def test_mse_loss_matches_torch_and_finite_differences():
    torch = require_torch()
    rng = np.random.default_rng(6)
    pred, target = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    for reduction in ("mean", "sum"):
        loss, dpred = mse_loss(pred, target, reduction)
        tp = torch.from_numpy(pred).requires_grad_()
        tloss = torch.nn.functional.mse_loss(tp, torch.from_numpy(target), reduction=reduction)
        tloss.backward()
        assert loss == pytest.approx(float(tloss.detach()), rel=1e-12)
        assert_close(dpred, tp.grad.numpy(), EXACT, reduction)
        fd = fourth_order_difference(lambda: mse_loss(pred, target, reduction)[0], pred)
        assert_close(dpred, fd, FD_RTOL, reduction)
    with pytest.raises(ValueError, match="target has shape"):
        mse_loss(pred, target[0])
    loss32, d32 = mse_loss(pred.astype(np.float32), target)  # float64 targets follow the float32 prediction
    assert d32.dtype == np.float32 and loss32 == pytest.approx(mse_loss(pred, target)[0], rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch_with_ignore_index_and_mask(dtype, reduction):
    """logits (B, T, C); a mask and ignore_index both drop rows; torch sees them as ignore_index."""
    torch = require_torch()
    rng = np.random.default_rng(7)
    B, T, C = 3, 4, 5
    logits = (3 * rng.standard_normal((B, T, C))).astype(dtype)
    targets = rng.integers(0, C, (B, T))
    targets[0, 1] = -100
    mask = np.ones((B, T), bool)
    mask[2, 2:] = False
    loss, dlogits = cross_entropy(logits, targets, ignore_index=-100, mask=mask, reduction=reduction)
    assert dlogits.dtype == dtype
    tl = torch.from_numpy(logits.reshape(-1, C)).requires_grad_()
    ttargets = torch.from_numpy(np.where(mask, targets, -100).ravel())
    tloss = torch.nn.functional.cross_entropy(tl, ttargets, ignore_index=-100, reduction=reduction)
    tloss.backward()
    tol = GRAD_RTOL[np.float32] if dtype == np.float32 else EXACT
    assert loss == pytest.approx(float(tloss.detach()), rel=tol)
    assert_close(dlogits.reshape(-1, C), tl.grad.numpy(), tol)


def test_cross_entropy_gradient_finite_differences_and_stability():
    rng = np.random.default_rng(8)
    logits, targets = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    _, dlogits = cross_entropy(logits, targets)
    fd = fourth_order_difference(lambda: cross_entropy(logits, targets)[0], logits)
    assert_close(dlogits, fd, FD_RTOL)
    huge = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]], np.float32)  # exp overflows without the max shift
    loss, d = cross_entropy(huge, np.array([0, 2]))
    assert loss == pytest.approx(1e4 / 2 + np.log(2) / 2, rel=1e-6) and np.isfinite(d).all()


def test_cross_entropy_edge_cases():
    logits = np.zeros((2, 3))
    loss, d = cross_entropy(logits, np.array([1, 1]), mask=np.array([False, False]))
    assert np.isnan(loss) and not d.any()                  # nothing counts: NaN as torch, zero gradient
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(TypeError, match="integer"):
        cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="targets has shape"):
        cross_entropy(logits, np.array([0, 1, 2]))


# ---------------------------------------------------------------------------------------------------- Embedding
def test_embedding_matches_torch_with_repeats_and_padding():
    torch = require_torch()
    module = torch.nn.Embedding(6, 3, padding_idx=0)
    emb = Embedding(6, 3, padding_idx=0, seed=0)
    assert not emb.params["weight"][0].any()
    emb.load_state_dict(module.state_dict())
    idx = np.array([[1, 2, 1], [0, 5, 1]])                  # repeated ids accumulate; id 0 gets no gradient
    dy = np.random.default_rng(9).standard_normal((2, 3, 3)).astype(np.float32)
    y, cache = emb.forward_train(idx)
    assert emb.backward(cache, dy) is None
    ty = module(torch.from_numpy(idx))
    (ty * torch.from_numpy(dy)).sum().backward()
    assert_close(y, ty.detach().numpy(), 0.0)
    assert_close(emb.grads["weight"], module.weight.grad.numpy(), GRAD_RTOL[np.float32])
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        emb(np.array([6]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([1.0]))


def test_embedding_gradient_finite_differences():
    rng = np.random.default_rng(10)
    emb = Embedding(4, 2, dtype=np.float64, seed=0)
    idx, dy = np.array([3, 1, 3, 0]), rng.standard_normal((4, 2))
    emb.backward(emb.forward_train(idx)[1], dy)
    fd = fourth_order_difference(lambda: float(np.sum(emb(idx) * dy)), emb.params["weight"])
    assert_close(emb.grads["weight"], fd, FD_RTOL)


# ------------------------------------------------------------------------------------------------------ dropout
def test_dropout_mask_scale_rate_and_seed():
    x = np.ones((200, 100), np.float32)
    y, mask = dropout(x, 0.25, np.random.default_rng(0))
    assert mask.dtype == np.float32 and set(np.unique(mask)) == {0.0, np.float32(1 / 0.75)}
    assert (mask == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert_close(y, x * mask, 0.0)
    assert y.mean() == pytest.approx(1.0, abs=0.02)        # inverted dropout keeps the expectation
    assert_close(dropout(x, 0.25, 7)[1], dropout(x, 0.25, 7)[1], 0.0)
    y0, mask0 = dropout(x, 0.0, 0)
    assert_close(y0, x, 0.0)
    assert (mask0 == 1).all()
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        dropout(x, 1.0, 0)


# ----------------------------------------------------------------------------------------------------- progress
def test_progress_fallback_draws_counts_and_postfix():
    out = io.StringIO()
    bar = progress(range(3), desc="train", file=out, use_tqdm=False)
    assert isinstance(bar, Progress)
    seen = []
    for item in bar:
        seen.append(item)
        bar.set_postfix(loss=np.float32(0.123456))
    text = out.getvalue()
    assert seen == [0, 1, 2]
    assert "train: " in text and "3/3" in text and "loss=0.1235" in text and text.endswith("\n")
    manual = Progress(desc="steps", file=out, mininterval=0.0)
    manual.update(5)
    manual.close()
    assert "5it [" in out.getvalue()


def test_progress_without_tqdm_raises_only_when_asked():
    try:
        import tqdm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            progress(range(2), use_tqdm=True)
        assert isinstance(progress(range(2), disable=True), Progress)
    else:
        assert not isinstance(progress(range(2), disable=True), Progress)


# ------------------------------------------------------------------------------------------------- end to end
def test_lstm_linear_mse_trains_with_adam_clipping_and_schedule():
    """RNN -> Linear -> MSE: predict sin(t + 0.3) from sin(t); the loss falls well below its start."""
    rng = np.random.default_rng(11)
    phase = rng.uniform(0, 2 * np.pi, (16, 1))
    t = phase + 0.2 * np.arange(20)                         # (B, T)
    x, y = np.sin(t)[..., None].astype(np.float32), np.sin(t + 0.3)[..., None].astype(np.float32)
    lstm = fastrnn.LSTM(1, 16, batch_first=True, seed=0)
    head = Linear(16, 1, seed=0)
    initialize(lstm.params, rng=0)
    opt = Adam([lstm, head], lr=0.02)
    sched = ExponentialLR(opt, 0.99)
    losses = []
    for _ in range(60):
        out, _, tape = lstm.forward_train(x)
        pred, cache = head.forward_train(out)
        loss, dpred = mse_loss(pred, y)
        lstm.backward(tape, head.backward(cache, dpred))
        clip_grad_norm([lstm.grads, head.grads], 1.0)
        opt.step()
        opt.zero_grad()
        sched.step()
        losses.append(loss)
    assert losses[-1] < 0.1 * losses[0]
