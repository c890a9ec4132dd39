"""fastrnn.nn pieces against torch: Linear and Embedding from state dicts, LayerNorm, activations, Dropout, pooling
over lengths and additive attention; their from_state_dict errors. Tolerances: conftest.RTOL."""
import math

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch
from fastrnn.nn import (GELU, AdditiveAttention, Dropout, Embedding, LastStep, LayerNorm, Linear, LogSoftmax,
                        MaxPool, MeanPool, ReLU, Sigmoid, Softmax, Tanh, gelu, last_step, log_softmax, max_pool,
                        mean_pool, relu, sigmoid, softmax, tanh)
from fastrnn.nn.activations import erfc


def torch_dtype(torch, dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def run_torch(torch, module, *arrays):
    with torch.no_grad():
        return module(*(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in arrays)).numpy()


# ------------------------------------------------------------------------------------------ Linear, Embedding
@pytest.mark.parametrize("bias", [True, False])
def test_linear_from_state_dict_matches_torch(dtype, bias, rng):
    torch = require_torch()
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 3, bias=bias).to(torch_dtype(torch, dtype))
    state = {f"model.fc.{k}": t for k, t in head.state_dict().items()}
    state["model.other.weight"] = np.zeros(2)                       # another piece's key: not ours
    layer = Linear.from_state_dict(state, prefix="model.fc.")
    assert layer.dtype == dtype and (layer.in_features, layer.out_features) == (6, 3)
    assert ("bias" in layer.params) == bias
    x = rng.standard_normal((2, 4, 6)).astype(dtype)
    assert_close(layer(x), run_torch(torch, head, x), RTOL[dtype])


def test_embedding_from_state_dict_matches_torch(rng):
    torch = require_torch()
    torch.manual_seed(0)
    module = torch.nn.Embedding(10, 4, padding_idx=0)
    emb = Embedding.from_state_dict({"emb.weight": module.weight.detach()}, prefix="emb.", padding_idx=0)
    assert emb.padding_idx == 0 and emb.dtype == np.float32
    ids = np.array([[3, 9, 0], [1, 0, 0]])
    assert_close(emb(ids), run_torch(torch, module, ids), 0.0)
    assert not emb(ids)[1, 1].any()


def test_embedding_refuses_bad_token_ids():
    emb = Embedding(5, 2, seed=0)
    with pytest.raises(IndexError, match=r"\[0, 5\).*negative id, -1 at position \(1, 0\)"):
        emb(np.array([[0, 1], [-1, 2]]))
    with pytest.raises(IndexError, match=r"past the vocabulary, 7 at position \(2,\)"):
        emb(np.array([4, 0, 7]))
    with pytest.raises(TypeError, match="integer ids"):
        emb(np.array([0.5]))


def test_from_state_dict_names_missing_and_unexpected_keys():
    good = {"fc.weight": np.ones((3, 2)), "fc.bias": np.ones(3)}
    with pytest.raises(fastrnn.FormatError, match=r"missing key 'head.weight'.*names under '': 'fc'"):
        Linear.from_state_dict(good, prefix="head.")
    with pytest.raises(fastrnn.FormatError, match=r"unexpected key 'fc.scale'.*Linear.*has weight, bias"):
        Linear.from_state_dict({**good, "fc.scale": np.ones(3)}, prefix="fc.")
    with pytest.raises(fastrnn.FormatError, match=r"'fc.weight' has shape \(3,\); expected \(O, I\)"):
        Linear.from_state_dict({"fc.weight": np.ones(3)}, prefix="fc.")
    with pytest.raises(ValueError, match=r"under prefix 'fc.'.*'bias' has shape \(4,\); expected \(3,\)"):
        Linear.from_state_dict({**good, "fc.bias": np.ones(4)}, prefix="fc.")
    with pytest.raises(fastrnn.FormatError, match=r"unexpected key 'emb.weight_ih_l0'"):
        Embedding.from_state_dict({"emb.weight": np.ones((3, 2)), "emb.weight_ih_l0": np.ones(2)}, prefix="emb.")
    with pytest.raises(TypeError, match="prefix must be a string"):
        Linear.from_state_dict(good, prefix=3)
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        Linear.from_state_dict([1, 2])


def test_parameterless_pieces_refuse_weights_under_their_prefix():
    state = {"act.weight": np.ones(2)}
    with pytest.raises(fastrnn.FormatError, match=r"unexpected key 'act.weight': a ReLU.*no weights"):
        ReLU.from_state_dict(state, prefix="act.")
    assert isinstance(Dropout.from_state_dict(state, prefix="drop.", p=0.2), Dropout)
    assert LastStep.from_state_dict({}, prefix="pool.", bidirectional=True).bidirectional


# -------------------------------------------------------------------------------------------------- LayerNorm
@pytest.mark.parametrize("shape,bias", [(8, True), ((3, 8), True), (8, False)])
def test_layer_norm_matches_torch(dtype, shape, bias, rng):
    torch = require_torch()
    module = torch.nn.LayerNorm(shape, eps=1e-3, bias=bias).to(torch_dtype(torch, dtype))
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape))
    norm = LayerNorm.from_state_dict({f"norm.{k}": t for k, t in module.state_dict().items()}, "norm.", eps=1e-3)
    assert norm.dtype == dtype and norm.normalized_shape == ((shape,) if isinstance(shape, int) else shape)
    x = (3 + 5 * rng.standard_normal((2, 5, 3, 8))).astype(dtype)
    assert_close(norm(x), run_torch(torch, module, x), RTOL[dtype])


def test_layer_norm_defaults_and_errors(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = LayerNorm(6, elementwise_affine=False)(x)
    assert_close(y.mean(axis=-1), np.zeros(4), 1e-6)
    assert_close(y.var(axis=-1), np.ones(4) / (1 + 1e-5 / x.var(axis=-1)), 1e-5)
    with pytest.raises(ValueError, match=r"x has shape \(4, 6\); expected \(\.\.\., 5\)"):
        LayerNorm(5)(x)
    with pytest.raises(ValueError, match="eps must be positive"):
        LayerNorm(5, eps=0)
    with pytest.raises(ValueError, match="normalized_shape must be >= 1"):
        LayerNorm((3, 0))


# ------------------------------------------------------------------------------------------------ activations
FUNCTIONS = {
    "relu": (relu, ReLU(), lambda t, x: t.relu(x)),
    "gelu": (gelu, GELU(), lambda t, x: t.nn.functional.gelu(x)),
    "gelu_tanh": (lambda x: gelu(x, approximate="tanh"), GELU("tanh"),
                  lambda t, x: t.nn.functional.gelu(x, approximate="tanh")),
    "sigmoid": (sigmoid, Sigmoid(), lambda t, x: t.sigmoid(x)),
    "tanh": (tanh, Tanh(), lambda t, x: t.tanh(x)),
    "softmax0": (lambda x: softmax(x, 0), Softmax(0), lambda t, x: t.softmax(x, 0)),
    "softmax": (softmax, Softmax(), lambda t, x: t.softmax(x, -1)),
    "log_softmax1": (lambda x: log_softmax(x, 1), LogSoftmax(1), lambda t, x: t.log_softmax(x, 1)),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_activations_match_torch(name, dtype, rng):
    torch = require_torch()
    function, module, reference = FUNCTIONS[name]
    x = (4 * rng.standard_normal((3, 4, 5))).astype(dtype)
    x[0, 0, :] = [-90.0, -12.0, 0.0, 12.0, 90.0]                 # saturated tails: exp must not overflow
    expected = reference(torch, torch.from_numpy(x)).numpy()
    for result in (function(x), module(x)):
        assert result.dtype == dtype
        assert_close(result, expected, RTOL[dtype], name)


def test_erfc_float32_formula_and_float64_libm():
    x = np.linspace(-9, 9, 20001)
    exact = np.array([math.erfc(t) for t in x])
    assert np.array_equal(erfc(x), exact)
    approx = erfc(x.astype(np.float32)).astype(np.float64)
    exact32 = np.array([math.erfc(t) for t in x.astype(np.float32).astype(np.float64)])
    assert np.max(np.abs(approx - exact32) / exact32) < 2e-7      # 1.2e-7 formula + float32 rounding


def test_activation_errors():
    with pytest.raises(TypeError, match="float array"):
        relu(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"dim must lie in \[-2, 2\)"):
        softmax(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match="approximate must be one of"):
        GELU("erf")


def test_dropout_is_the_identity():
    x = np.arange(6.0).reshape(2, 3)
    assert Dropout(0.3)(x) is x
    for p in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="dropout probability"):
            Dropout(p)


# -------------------------------------------------------------------------------------------------- pooling
LENGTHS = np.array([5, 2, 1, 4])


def masked_torch_pools(torch, x, lengths):
    """Reference: (mean, max, last) over valid steps of batch-first x (B, T, F), written the usual torch way."""
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    mask = (torch.arange(x.shape[1])[None, :] < lt[:, None])[..., None]          # (B, T, 1)
    mean = (xt * mask).sum(1) / lt[:, None].to(xt.dtype)
    maxed = xt.masked_fill(~mask, float("-inf")).max(1).values
    last = xt[torch.arange(x.shape[0]), lt - 1]
    return mean.numpy(), maxed.numpy(), last.numpy()


def test_pooling_matches_torch_masked_reductions(dtype, rng):
    torch = require_torch()
    x = rng.standard_normal((4, 5, 3)).astype(dtype)               # (B, T, F)
    x[1, 2:] = 1e3                                                  # padding must not count
    mean, maxed, last = masked_torch_pools(torch, x, LENGTHS)
    for batch_first, xs in ((True, x), (False, x.transpose(1, 0, 2))):
        assert_close(mean_pool(xs, LENGTHS, batch_first), mean, RTOL[dtype])
        assert_close(max_pool(xs, LENGTHS, batch_first), maxed, 0.0)
        assert_close(last_step(xs, LENGTHS, batch_first), last, 0.0)
        assert_close(MeanPool(batch_first)(xs, LENGTHS), mean, RTOL[dtype])
        assert_close(MaxPool(batch_first)(xs, LENGTHS), maxed, 0.0)
        assert_close(LastStep(batch_first)(xs, LENGTHS), last, 0.0)
    assert_close(mean_pool(x, batch_first=True), x.mean(axis=1), RTOL[dtype])
    assert_close(max_pool(x, batch_first=True), x.max(axis=1), 0.0)
    assert_close(last_step(x, batch_first=True), x[:, -1], 0.0)


def test_bidirectional_last_step_is_torch_h_n(rng):
    torch = require_torch()
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    x = torch.from_numpy(rng.standard_normal((4, 5, 3)).astype(np.float32))
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(LENGTHS), batch_first=True,
                                                     enforce_sorted=False)
    with torch.no_grad():
        out, (h_n, _) = lstm(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    expected = torch.cat([h_n[0], h_n[1]], dim=1).numpy()           # forward at its last step, reverse at 0
    assert_close(last_step(out.numpy(), LENGTHS, batch_first=True, bidirectional=True), expected, 0.0)


def test_pooling_errors():
    x = np.zeros((5, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T\] = \[1, 5\]; got min 1, max 6"):
        mean_pool(x, [1, 2, 6, 3])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T\]"):
        max_pool(x, [0, 2, 3, 3])
    with pytest.raises(ValueError, match=r"lengths has shape \(3,\); expected \(B,\) = \(4,\)"):
        last_step(x, [1, 2, 3])
    with pytest.raises(ValueError, match=r"x must be 3-D \(B, T, F\)"):
        mean_pool(x[0], batch_first=True)
    with pytest.raises(ValueError, match="even feature count"):
        last_step(x, bidirectional=True)
    with pytest.raises(TypeError, match="float array"):
        mean_pool(np.zeros((2, 2, 2), int))
    for pool in (mean_pool, max_pool, last_step):
        with pytest.raises(ValueError, match=r"x has shape \(2, 0, 3\): no time steps"):
            pool(np.zeros((2, 0, 3), np.float32), batch_first=True)
    assert mean_pool(np.zeros((3, 0, 2)), np.zeros(0, int)).shape == (0, 2)      # an empty batch is fine


# ------------------------------------------------------------------------------------------------- attention
def torch_attention(torch):
    class Attention(torch.nn.Module):
        """The usual additive attention pooling over LSTM states, masked by lengths."""

        def __init__(self, features, size):
            super().__init__()
            self.proj = torch.nn.Linear(features, size)
            self.score = torch.nn.Linear(size, 1)

        def forward(self, out, lengths):                          # out (B, T, F)
            scores = self.score(torch.tanh(self.proj(out))).squeeze(-1)
            mask = torch.arange(out.shape[1])[None, :] < lengths[:, None]
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
            return (weights.unsqueeze(-1) * out).sum(1), weights

    return Attention


def test_additive_attention_matches_torch(dtype, rng):
    torch = require_torch()
    torch.manual_seed(0)
    module = torch_attention(torch)(6, 5).to(torch_dtype(torch, dtype))
    attn = AdditiveAttention.from_state_dict({f"attn.{k}": t for k, t in module.state_dict().items()}, "attn.",
                                             batch_first=True)
    assert (attn.input_size, attn.attention_size, attn.dtype) == (6, 5, dtype)
    x = rng.standard_normal((4, 5, 6)).astype(dtype)
    x[2, 1:] = 50.0                                                # padding: weight zero whatever its score
    with torch.no_grad():
        context, weights = module(torch.from_numpy(x), torch.from_numpy(LENGTHS))
    assert_close(attn(x, LENGTHS), context.numpy(), RTOL[dtype])
    assert_close(attn.weights(x, LENGTHS), weights.numpy(), RTOL[dtype])
    time_major = AdditiveAttention.from_state_dict(attn.state_dict())
    assert_close(time_major(x.transpose(1, 0, 2), LENGTHS), context.numpy(), RTOL[dtype])


def test_additive_attention_errors():
    attn = AdditiveAttention(4, 3, seed=0)
    with pytest.raises(ValueError, match="x has 5 features; expected F = input_size = 4"):
        attn(np.zeros((2, 1, 5), np.float32))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T\] = \[1, 2\]"):
        attn(np.zeros((2, 1, 4), np.float32), [3])
    with pytest.raises(fastrnn.FormatError, match=r"missing key 'attn.score.weight'"):
        AdditiveAttention.from_state_dict({"attn.proj.weight": np.ones((3, 4))}, "attn.")
