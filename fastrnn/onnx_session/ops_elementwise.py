"""Element-wise ONNX ops for the session's executor: arithmetic, comparisons and logic (NumPy broadcasting, which
is ONNX's multidirectional broadcasting), activations, Clip, Cast, Where.

Every builder takes the node's spec (fastrnn/onnx_session/plan.py: attrs, opset, name) and returns the function
the executor calls with the node's input arrays (None for an absent optional input), once per call.
Results keep the inputs' dtype as ONNX does (NumPy would promote float32 / int scalars in some mixes, so binary
ops cast back when the result's dtype differs from the first input's).
"""
import math

import numpy as np

from fastrnn.io.errors import FormatError

from . import small

# erf for float32/float16 data: Abramowitz & Stegun 7.1.26 computed in float64, |error| <= 1.5e-7 (below
# float32's resolution of erf's values, 6e-8 x 2); float64 data uses math.erf element by element (exact, slower).
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def erf(x):
    """erf of an array, in its dtype."""
    if x.dtype == np.float64:
        return np.vectorize(math.erf, otypes=[np.float64])(x) if x.size else x.copy()
    z = np.abs(x, dtype=np.float64)
    t = 1.0 / (1.0 + _AS_P * z)
    poly = t * (_AS_A[0] + t * (_AS_A[1] + t * (_AS_A[2] + t * (_AS_A[3] + t * _AS_A[4]))))
    return (np.copysign(1.0 - poly * np.exp(-z * z), x)).astype(x.dtype)


def _sigmoid(x):
    """1 / (1 + exp(-x)): one compiled loop for small float arrays, else 0.5 + 0.5 tanh(x / 2) (no overflow
    warning for very negative x)."""
    out = small.sigmoid(x)
    if out is not None:
        return out
    out = np.multiply(x, 0.5)   # Python floats keep x's dtype (NumPy's weak scalars)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _binary(ufunc):
    def build(node):
        def run(a, b):
            out = ufunc(a, b)
            return out if out.dtype == a.dtype else out.astype(a.dtype)
        return run
    return build


def _compare(ufunc):
    return lambda node: ufunc


def _unary(fn):
    return lambda node: fn


def _variadic(ufunc):
    def build(node):
        def run(*arrays):
            out = arrays[0]
            for a in arrays[1:]:
                out = ufunc(out, a)
            return np.array(out, copy=True) if len(arrays) == 1 else out
        return run
    return build


def _div(node):
    def run(a, b):
        if a.dtype.kind in "iu":   # ONNX integer Div truncates toward zero
            return np.trunc(np.true_divide(a, b)).astype(a.dtype)
        out = np.true_divide(a, b)
        return out if out.dtype == a.dtype else out.astype(a.dtype)
    return run


def _mod(node):
    fmod = node.attrs.get("fmod", 0)
    return _binary(np.fmod if fmod else np.mod)(node)


def _mean(node):
    def run(*arrays):
        total = _variadic(np.add)(node)(*arrays)
        return (total / len(arrays)).astype(arrays[0].dtype)
    return run


def _relu(x):
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def _leaky_relu(node):
    alpha = node.attrs.get("alpha", 0.01)
    return lambda x: np.where(x >= 0, x, x * x.dtype.type(alpha))


def _elu(node):
    alpha = node.attrs.get("alpha", 1.0)
    return lambda x: np.where(x > 0, x, (np.exp(np.minimum(x, 0)) - 1) * x.dtype.type(alpha))


def _hard_sigmoid(node):
    alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    return lambda x: np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1).astype(x.dtype)


def _softplus(x):
    return np.logaddexp(x, 0).astype(x.dtype, copy=False)


def _gelu(node):
    approximate = node.attrs.get("approximate", "none")
    if approximate == "tanh":
        def run(x):
            return (x * 0.5 * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))).astype(x.dtype)
        return run
    if approximate != "none":
        raise FormatError(f"Gelu node {node.name!r}: approximate = {approximate!r}; expected 'none' or 'tanh'")
    return lambda x: (x * 0.5 * (1 + erf(x / _SQRT_2))).astype(x.dtype)


def _clip(node):
    low, high = node.attrs.get("min"), node.attrs.get("max")   # opset < 11: attributes; then inputs

    def run(x, lo=None, hi=None):
        lo = low if lo is None else lo
        hi = high if hi is None else hi
        out = x if lo is None else np.maximum(x, lo)
        out = out if hi is None else np.minimum(out, hi)
        return out.astype(x.dtype, copy=out is x)
    return run


def _prelu(node):
    return lambda x, slope: np.where(x >= 0, x, x * slope).astype(x.dtype, copy=False)


def _selu(node):
    alpha = node.attrs.get("alpha", 1.67326319217681884765625)   # ONNX's defaults
    gamma = node.attrs.get("gamma", 1.05070102214813232421875)
    return lambda x: (gamma * np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))).astype(x.dtype)


def _hard_swish(x):
    return (x * np.clip(x / 6 + 0.5, 0, 1)).astype(x.dtype, copy=False)


def _softsign(x):
    return (x / (1 + np.abs(x))).astype(x.dtype, copy=False)


def _mish(x):
    return (x * np.tanh(np.logaddexp(x, 0))).astype(x.dtype, copy=False)


def _cast(node):
    from .plan import onnx_dtype
    dtype = onnx_dtype(node.attrs.get("to", 0), node)
    return lambda x: x.astype(dtype)


def _where(node):
    return lambda condition, a, b: np.where(condition, a, b)


def _not(x):
    return np.logical_not(x)


def _identity(node):
    return lambda x: x


BUILDERS = {
    "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply), "Div": _div,
    "Pow": _binary(np.power), "Mod": _mod,
    "Max": _variadic(np.maximum), "Min": _variadic(np.minimum), "Sum": _variadic(np.add), "Mean": _mean,
    "Equal": _compare(np.equal), "Less": _compare(np.less), "Greater": _compare(np.greater),
    "LessOrEqual": _compare(np.less_equal), "GreaterOrEqual": _compare(np.greater_equal),
    "And": _compare(np.logical_and), "Or": _compare(np.logical_or), "Xor": _compare(np.logical_xor),
    "Not": _unary(_not),
    "Neg": _unary(np.negative), "Abs": _unary(np.abs), "Sqrt": _unary(np.sqrt), "Exp": _unary(np.exp),
    "Log": _unary(np.log), "Reciprocal": _unary(np.reciprocal), "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil), "Sign": _unary(np.sign), "Sin": _unary(np.sin), "Cos": _unary(np.cos),
    "Tanh": _unary(np.tanh), "Sigmoid": _unary(_sigmoid), "Relu": _unary(_relu), "Erf": _unary(erf),
    "Softplus": _unary(_softplus), "LeakyRelu": _leaky_relu, "Elu": _elu, "HardSigmoid": _hard_sigmoid,
    "PRelu": _prelu, "Selu": _selu, "HardSwish": _unary(_hard_swish), "Softsign": _unary(_softsign),
    "Mish": _unary(_mish), "Gelu": _gelu, "Clip": _clip, "Cast": _cast, "Where": _where, "Identity": _identity,
    "IsNaN": _unary(np.isnan),
}
