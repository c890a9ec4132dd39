"""The compiled row kernels of the session's tensors (fastrnn/_rows.pxi, csrc/rows.c, called by
fastrnn/onnx_session/small.py): softmax, log-softmax, layer normalisation and sigmoid against float64 NumPy
references, float32 (tolerance 2e-6 relative to max(1, |expected|)) and float64 (1e-12), rows shorter and longer
than the kernels' 64-byte lanes with odd tails; Linear layers on both sides of the small product's limit; their
argument checks; and the ops around them against onnxruntime at small to large sizes, for inputs the kernels
refuse (views, other axes, broadcast scales) and float64 models (against NumPy: ORT has no double
LayerNormalization kernel in every build).
"""
import numpy as np
import pytest

from fastrnn import _kernels
from fastrnn.onnx_session import small
from test_session_ops import F, check

TOLERANCE = {np.float32: 2e-6, np.float64: 1e-12}
SHAPES = [(1, 1), (1, 3), (2, 17), (5, 50), (3, 64), (7, 33), (2, 1001), (300, 50)]


def _close(got, want, dtype):
    scale = np.maximum(1.0, np.abs(want))
    assert np.all(np.abs(got - want) <= TOLERANCE[dtype] * scale), np.abs(got - want).max()


def _softmax_reference(x, as_log):
    x = x.astype(np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted - log_total if as_log else np.exp(shifted - log_total)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("as_log", [False, True])
def test_softmax_rows_against_numpy(dtype, shape, as_log, rng):
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    out = np.empty_like(x)
    _kernels.softmax_rows(x, out, as_log)
    _close(out, _softmax_reference(x, as_log), dtype)


def test_softmax_rows_of_masked_and_nan_rows():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf] * 3, [1.0, np.nan, 2.0]], np.float32)
    out = np.empty_like(x)
    _kernels.softmax_rows(x, out, False)
    _close(out[0], _softmax_reference(x[:1, [0, 2]], False)[0][[0, 0, 1]] * [1, 0, 1], np.float32)
    assert np.isnan(out[1:]).all()   # a row of -inf, and a row with a NaN, are NaN (as onnxruntime's)
    assert out[0, 1] == 0   # exactly: a masked position weighs nothing (and no subnormal slows later products)
    scores = np.full((2, 40), -np.inf, np.float32)
    scores[:, :3] = [50.0, 0.0, -60.0]
    for as_log in (False, True):
        _kernels.softmax_rows(scores, weights := np.empty_like(scores), as_log)
        tiny = np.abs(weights) < np.finfo(np.float32).tiny
        assert (weights[:, 3:] == (-np.inf if as_log else 0)).all() and not (tiny & (weights != 0)).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_layer_norm_rows_against_numpy(dtype, shape, with_bias, rng):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    scale = rng.standard_normal(shape[1]).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype) if with_bias else None
    out = np.empty_like(x)
    _kernels.layer_norm_rows(x, scale, bias, 1e-5, out)
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5) * scale
    _close(out, want + (0 if bias is None else bias), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_against_numpy(dtype, rng):
    x = np.concatenate([rng.standard_normal(37) * 8, [-1000.0, 1000.0, 0.0, -88.8, 88.8],
                        rng.standard_normal(1000) * 30]).astype(dtype)
    out = np.empty_like(x)
    with np.errstate(over="ignore"):
        want = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    _kernels.sigmoid_array(x, out)
    _close(out, want, dtype)
    assert out[37] == 0 and not ((0 < out) & (out < np.finfo(dtype).tiny)).any()   # 0, never a subnormal


def test_kernels_refuse_what_they_cannot_read():
    x = np.ones((4, 6), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.softmax_rows(x[:, ::2], np.empty((4, 3), np.float32), False)
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.softmax_rows(x, np.empty((4, 6), np.float64), False)
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.softmax_rows(x.astype(np.int64), np.empty((4, 6), np.int64), False)
    with pytest.raises(ValueError, match=r"scale must be .* shape \(6,\)"):
        _kernels.layer_norm_rows(x, np.ones(5, np.float32), None, 1e-5, np.empty_like(x))
    with pytest.raises(ValueError, match=r"bias must be"):
        _kernels.layer_norm_rows(x, np.ones(6, np.float32), np.ones(6, np.float64), 1e-5, np.empty_like(x))
    read_only = np.empty_like(x)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.sigmoid_array(x, read_only)
    assert small.sigmoid(x.astype(np.float16)) is None and small.softmax(x.astype('>f4'), 1, False) is None
    assert small.sigmoid(np.ones((0, 3), np.float32)) is None   # empty: NumPy's path
    for k in (-1, 3):   # the first axis of a row out of range: an error, never a read past the shape
        with pytest.raises(ValueError, match=r"k must be in \[0, 2\]"):
            small.softmax(x, k, False)
        with pytest.raises(ValueError, match=r"k must be in \[0, 2\]"):
            small.layer_norm(x, k, np.ones(6, np.float32), None, 1e-5)
    large = np.random.default_rng(5).standard_normal((400, 300)).astype(np.float32)
    _close(small.softmax(large, 1, True), _softmax_reference(large, True), np.float32)   # no size limit


# Through the ops, against onnxruntime: small to large tensors, views and other axes.
SIDES = [(2, 3, 7), (40, 64), (260, 64)]   # 42, 2,560 and 16,640 elements


@pytest.mark.parametrize("shape", SIDES, ids=["small", "medium", "large"])
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_ops_at_every_size(shape, op, opset, axis, rng):
    check(op, {"x": rng.standard_normal(shape).astype(F) * 4}, attrs={"axis": axis}, opset=opset,
          second_oracle=opset >= 13)   # onnx.reference's opset-11 Softmax is wrong (tests/test_session_ops.py)


@pytest.mark.parametrize("shape", SIDES, ids=["small", "medium", "large"])
def test_layer_norm_and_sigmoid_at_every_size(shape, rng):
    x = rng.standard_normal(shape).astype(F) * 3
    n = shape[-1]
    check("LayerNormalization", {"x": x}, {"s": rng.standard_normal(n).astype(F), "b": rng.standard_normal(n).astype(F)})
    check("LayerNormalization", {"x": x}, {"s": rng.standard_normal((1, n)).astype(F)})   # a broadcast scale
    check("LayerNormalization", {"x": x}, {"s": rng.standard_normal(shape[-2:]).astype(F)}, {"axis": -2})
    check("Sigmoid", {"x": x})


def test_ops_on_views_agree_with_contiguous_inputs(rng):
    from fastrnn.onnx_session import ops_elementwise, ops_nn
    from fastrnn.onnx_session.plan import NodeSpec

    class Node(NodeSpec):
        def __init__(self, op, **attrs):   # noqa: super().__init__ reads a NodeProto
            self.op, self.name, self.opset, self.attrs = op, "n", 17, attrs
            self.inputs, self.outputs, self.constants = ["x", "s", "b"], ["y"], [None] * 3

    x = rng.standard_normal((6, 10)).astype(np.float64)
    view = x[:, ::2]   # not contiguous: copied for the kernels
    for op, as_log in (("Softmax", False), ("LogSoftmax", True)):
        run = ops_nn.BUILDERS[op](Node(op))
        _close(run(view), _softmax_reference(view, as_log), np.float64)
        _close(run(np.ascontiguousarray(view)), run(view), np.float64)
    scale, bias = rng.standard_normal(5), rng.standard_normal(5)
    norm = ops_nn.BUILDERS["LayerNormalization"](Node("LayerNormalization"))
    _close(norm(np.ascontiguousarray(view), scale, bias), norm(view, scale, bias), np.float64)
    sigmoid = ops_elementwise.BUILDERS["Sigmoid"](Node("Sigmoid"))
    _close(sigmoid(np.ascontiguousarray(view)), sigmoid(view), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, N, K", [(1, 1, 1), (1, 5, 32), (3, 7, 13), (17, 50, 48), (40, 3, 100),
                                     (63, 1, 16), (64, 1, 16), (1600, 1, 33),   # one output: gemv from 64 rows
                                     (700, 50, 48), (333, 17, 64), (2000, 3, 50), (2000, 1, 200)])   # the last
                                                                                     # four: past LINEAR_SMALL_MACS
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_rows_against_numpy(dtype, M, N, K, with_bias, rng):
    a, w = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((N, K)).astype(dtype)
    bias = rng.standard_normal(N).astype(dtype) if with_bias else None
    out = np.full((M, N), np.nan, dtype)
    _kernels.linear_rows(a, w, bias, out)
    want = a.astype(np.float64) @ w.T.astype(np.float64) + (0 if bias is None else bias)
    _close(out, want, dtype) if dtype == np.float64 else \
        np.testing.assert_allclose(out, want, rtol=0, atol=2e-6 * np.sqrt(K) * max(1.0, np.abs(want).max()))


def test_linear_rows_of_empty_sums_and_its_checks():
    out = np.full((2, 3), np.nan, np.float32)
    _kernels.linear_rows(np.ones((2, 0), np.float32), np.ones((3, 0), np.float32), None, out)
    assert not out.any()
    _kernels.linear_rows(np.ones((2, 0), np.float32), np.ones((3, 0), np.float32), np.arange(3, dtype=np.float32), out)
    assert out.tolist() == [[0, 1, 2], [0, 1, 2]]
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.linear_rows(np.ones((4, 3), np.float32)[::2], np.ones((3, 3), np.float32), None, out)
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.linear_rows(np.ones((2, 4), np.float32), np.ones((3, 3), np.float32), None, out)
    with pytest.raises(ValueError, match=r"bias must be .* shape \(3,\)"):
        _kernels.linear_rows(np.ones((2, 3), np.float32), np.ones((3, 3), np.float32), np.ones(2, np.float32), out)
    x = np.ones((2, 4), np.float32)
    w = small.weights(np.ones((4, 3), np.float32))
    assert w.shape == (3, 4) and w.flags.c_contiguous
    view = np.arange(8, dtype=np.float32).reshape(2, 4)[:, ::2]   # copied for the kernel
    got = small.linear(view, small.weights(np.ones((2, 3), np.float32)), None)
    np.testing.assert_array_equal(got, view @ np.ones((2, 3), np.float32))
    assert small.linear(np.ones((0, 4), np.float32), w, None) is None   # empty: NumPy's path
    assert small.weights(np.ones((4, 3), np.float16)) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 5, 4), (2, 3, 70, 4)])
@pytest.mark.parametrize("N", [1, 6])
def test_linear_of_any_rank_and_layout(dtype, shape, N, rng):
    """small.linear: (..., K) inputs of any rank, views copied for the kernel, the result a new array."""
    w = rng.standard_normal((N, 4)).astype(dtype)
    bias = rng.standard_normal(N).astype(dtype)
    wide = rng.standard_normal(shape[:-1] + (9,)).astype(dtype)
    for a in (rng.standard_normal(shape).astype(dtype), wide[..., ::2][..., :4]):   # contiguous, strided view
        for b in (None, bias):
            got = small.linear(a, w, b)
            want = a.astype(np.float64) @ w.T.astype(np.float64) + (0 if b is None else b)
            assert got.shape == shape[:-1] + (N,) and got.dtype == dtype and got.flags.c_contiguous
            _close(got, want, dtype) if dtype == np.float64 else \
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))


def test_linear_declines_what_its_kernel_does_not_take():
    w = np.ones((3, 4), np.float32)
    assert small.linear(np.ones((2, 4), np.float64), w, None) is None            # another dtype
    assert small.linear(np.ones((2, 4), ">f4"), w, None) is None                  # another byte order
    assert small.linear(np.ones((2, 5), np.float32), w, None) is None            # another K
    assert small.linear(np.float32(1.0), w, None) is None                         # not an array
    assert small.linear(np.ones((2, 0), np.float32), np.ones((3, 0), np.float32), None) is None   # K == 0
    with pytest.raises(ValueError, match=r"bias must be None or a C-contiguous float32 array of shape \(3,\)"):
        small.linear(np.ones((2, 4), np.float32), w, np.ones(2, np.float32))
    with pytest.raises(ValueError, match="bias must be"):
        small.linear(np.ones((2, 4), np.float32), w, np.ones(3, np.float64))
