"""Reduced-precision weights: fastrnn.quantize_dynamic(layer, dtype="int8" | "bfloat16" | "float16").

  formats      how quantized weights are stored (values + per-row "_scale"), converted and checked
  layers       QuantizedRNN / QuantizedLSTM / QuantizedGRU, quantize_dynamic, building from a state dict
  torch_state  torch's quantized-dynamic state dicts (as fastrnn.load returns them) in fastrnn's names
The products are csrc/quant.c's; kernels() says which one each format runs on this CPU.
"""
import platform

from .formats import WEIGHT_FORMATS
from .layers import QuantizedGRU, QuantizedLSTM, QuantizedRNN, quantize_dynamic

__all__ = ["quantize_dynamic", "QuantizedRNN", "QuantizedLSTM", "QuantizedGRU", "WEIGHT_FORMATS", "kernels",
           "kernels_summary"]


def kernels():
    """{format: (kernel in use, [kernels this CPU runs, best first])}, e.g. {"bfloat16": ("avx512-bf16", [...])}
    (aarch64: "i8mm-smmla", "dotprod-sdot", "neon-smlal"; "bf16-bfdot", "neon"). bfloat16 without AVX512_BF16 or
    ARM BF16 widens the weights on load ("avx512", "avx2", "neon" or "c")."""
    from .. import _kernels
    return {fmt: (_kernels.quant_kernel_in_use(fmt), _kernels.quant_kernels(fmt)) for fmt in WEIGHT_FORMATS}


# bfloat16 kernels that round A and use a dot-product instruction: name -> (CPU feature, instruction)
_BF16_DOT = {"amx": ("AMX_BF16", "tdpbf16ps"), "avx512-bf16": ("AVX512_BF16", "vdpbf16ps"),
             "bf16-bfdot": ("BF16", "BFDOT")}   # kernels that round A to bfloat16


def kernels_summary():
    """One line for reports, e.g. "int8 avx512-vnni, bfloat16 avx512-bf16, float16 avx512"; says when bfloat16 runs
    without vdpbf16ps or BFDOT (a CPU without AVX512_BF16 / BF16, or a forced kernel): the weights are widened on
    load."""
    parts = []
    for fmt, (used, available) in kernels().items():
        note = ""
        dot = [name for name in available if name in _BF16_DOT]
        if fmt == "bfloat16" and not dot:
            feature = "BF16" if platform.machine() in ("aarch64", "arm64") else "AVX512_BF16"
            note = f" (this CPU has no {feature}: weights widened on load)"
        elif fmt == "bfloat16" and used not in _BF16_DOT:
            note = f" ({_BF16_DOT[dot[0]][1]} available, not used: weights widened on load)"
        parts.append(f"{fmt} {used}{note}")
    return ", ".join(parts)
