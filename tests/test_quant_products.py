"""The reduced-precision products (csrc/quant.c) on every kernel this CPU runs, against NumPy references.

int8: each row of A quantized to [-127, 127] with scale max|a| / 127 (round half to even), the integer sums
exact: every kernel must give the reference's float32 epilogue up to float rounding (2e-6 relative).
bfloat16 / float16 widened on load: float32 accumulation of exactly the stored weights (1e-5 relative).
bfloat16 by vdpbf16ps or BFDOT: A rounded to bfloat16 first; against the reference with A so rounded (1e-5 relative).
Every kernel this CPU runs is forced in turn (x86-64: AMX, AVX-512 VNNI/BF16, AVX2, C; aarch64: SMMLA, SDOT, SMLAL,
BFDOT, NEON widening, C); FASTRNN_ISA's cap is checked in a fresh process per level.
"""
import numpy as np
import pytest

from fastrnn import _kernels
from fastrnn.quant import formats as f

from conftest import BF16_DOT_KERNELS, ON_ARM

SHAPES = [(1, 64, 8), (3, 50, 13), (7, 130, 77), (1, 2048, 512), (300, 33, 40), (700, 40, 100), (5, 16, 1),
          (2, 1, 3), (64, 96, 256), (48, 17, 4), (16, 2048, 130)]
# (700, 40, 100): A prepared by two threads; (64, 96, 256), (48, 17, 4), (16, 2048, 130): whole 16-row tiles of
# the AMX kernel with K a multiple of 64 or not, an odd panel count, and rows past the tiles (300, 700)


@pytest.fixture(autouse=True)
def _best_kernels_after():
    yield
    for fmt in f.WEIGHT_FORMATS:
        _kernels.quant_use_kernel(fmt, -1)


def _kernel_ids():
    return [(fmt, i, name) for fmt in f.WEIGHT_FORMATS for i, name in enumerate(_kernels.quant_kernels(fmt))]


def _quantize_rows(A):
    amax = np.abs(A).max(axis=1)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    qa = np.clip(np.rint(A * inv[:, None]), -127, 127).astype(np.int64)
    return qa, (amax / np.float32(127)).astype(np.float32)


def _reference(fmt, kernel, A, values, scale):
    """float64 (or float32 epilogue for int8) reference of A W^T for stored values and scales."""
    if fmt == "int8":
        qa, sa = _quantize_rows(A)
        sums = qa @ values.astype(np.int64).T
        return (sums.astype(np.float32) * sa[:, None]) * scale[None, :]
    W = f.dequantize(values, scale).astype(np.float64)
    if kernel in BF16_DOT_KERNELS:
        A = f.bf16_to_f32(f.bf16_bits(A))
    return A.astype(np.float64) @ W.T


@pytest.mark.parametrize("fmt,index,name", _kernel_ids(), ids=lambda v: str(v))
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_every_kernel_matches_the_reference(fmt, index, name, M, N, K, rng):
    A = rng.standard_normal((M, K)).astype(np.float32)
    W = (rng.standard_normal((N, K)) * 0.1).astype(np.float32)
    values, scale = f.quantize_matrix(W, fmt)
    if fmt == "int8":
        values[0, 0] = -128                     # torch's per-tensor weights reach -128: no saturation either
        scale = (scale * rng.uniform(0.5, 2, N)).astype(np.float32)
    matrix = _kernels.QuantMatrix(fmt, np.ascontiguousarray(f.raw_values(values)), scale)
    _kernels.quant_use_kernel(fmt, index)
    assert _kernels.quant_kernel_in_use(fmt) == name
    expected = _reference(fmt, name, A, values, scale)
    C = np.full((M, N), 0.25, np.float32)
    _kernels.quant_gemm_nt(matrix, A, C, True, 1)
    tol = 2e-6 if fmt == "int8" else 1e-5
    assert np.abs(C - 0.25 - expected).max() <= tol * max(1.0, np.abs(expected).max()), (fmt, name)
    C2 = np.full((M, N), np.nan, np.float32)
    _kernels.quant_gemm_nt(matrix, A, C2, False, 2)   # overwrite, split across two threads
    assert np.abs(C2 - expected).max() <= tol * max(1.0, np.abs(expected).max()), (fmt, name)


@pytest.mark.parametrize("fmt", f.WEIGHT_FORMATS)
def test_all_kernels_agree_on_int8_exactly_and_zero_rows_give_zero(fmt, rng):
    A = rng.standard_normal((38, 37)).astype(np.float32)   # two 16-row tiles (AMX) and 6 rows past them
    A[[2, 20, 35]] = 0                          # all-zero rows of A: scale 0, output exactly 0
    values, scale = f.quantize_matrix(rng.standard_normal((21, 37)).astype(np.float32), fmt)
    matrix = _kernels.QuantMatrix(fmt, np.ascontiguousarray(f.raw_values(values)), scale)
    results = []
    for index in range(len(_kernels.quant_kernels(fmt))):
        _kernels.quant_use_kernel(fmt, index)
        C = np.empty((38, 21), np.float32)
        _kernels.quant_gemm_nt(matrix, A, C, False, 1)
        results.append(C)
        assert not C[[2, 20, 35]].any()
    if fmt == "int8":
        for C in results[1:]:
            np.testing.assert_array_equal(C, results[0])


def test_the_kernel_list_names_the_best_first_and_ends_with_c():
    for fmt in f.WEIGHT_FORMATS:
        names = _kernels.quant_kernels(fmt)
        assert names[-1] == "c" and _kernels.quant_kernel_in_use(fmt) == names[0]
    with pytest.raises(ValueError, match="kernel index"):
        _kernels.quant_use_kernel("int8", 99)
    with pytest.raises(ValueError, match="weight format"):
        _kernels.quant_kernels("int4")


def test_the_report_line_says_when_bfloat16_falls_back():
    from fastrnn.quant import kernels_summary
    names = _kernels.quant_kernels("bfloat16")
    line = kernels_summary()
    assert line.startswith("int8 ") and "bfloat16 " in line and "float16 " in line
    feature = "BF16" if ON_ARM else "AVX512_BF16"
    instruction = {"amx": "tdpbf16ps", "avx512-bf16": "vdpbf16ps", "bf16-bfdot": "BFDOT"}
    if not set(BF16_DOT_KERNELS) & set(names):
        assert f"no {feature}: weights widened on load" in line
    else:
        widening = next(i for i, name in enumerate(names) if name not in BF16_DOT_KERNELS)
        _kernels.quant_use_kernel("bfloat16", widening)
        assert (f"bfloat16 {names[widening]} ({instruction[names[0]]} available, not used: weights widened on load)"
                in kernels_summary())


# FASTRNN_ISA level -> the kernels it keeps on a CPU that has that level
ISA_CAPS = ([("dotprod", {"dotprod-sdot", "neon-smlal", "neon", "c"}), ("neon", {"neon-smlal", "neon", "c"}),
             ("baseline", {"c"})] if ON_ARM else [("avx2", {"avx2", "avx2-f16c", "c"}), ("baseline", {"c"})])


@pytest.mark.parametrize("isa,expected", ISA_CAPS)
def test_fastrnn_isa_caps_the_quantized_kernels(isa, expected):
    import os
    import subprocess
    import sys
    code = "from fastrnn import _kernels as K; print(sorted({n for f in K.QUANT_FORMATS for n in K.quant_kernels(f)}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, FASTRNN_ISA=isa))
    assert out.returncode == 0, out.stderr
    found = set(eval(out.stdout))
    everything_here = {n for fmt in f.WEIGHT_FORMATS for n in _kernels.quant_kernels(fmt)}
    if ON_ARM:   # a level this CPU lacks is ignored (with a warning): every kernel stays
        assert found == (expected if _kernels.isa_supported(isa) else everything_here)
    else:        # x86: AVX2 named on a CPU without it leaves the C kernels
        assert found == (expected if "avx2" in everything_here or isa == "baseline" else {"c"})
