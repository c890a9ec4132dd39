"""Reduced-precision weights: fastrnn.quantize_dynamic(layer, dtype="int8" | "bfloat16" | "float16").

  formats      how quantized weights are stored (values + per-row "_scale"), converted and checked
  layers       QuantizedRNN / QuantizedLSTM / QuantizedGRU, quantize_dynamic, building from a state dict
  torch_state  torch's quantized-dynamic state dicts (as fastrnn.load returns them) in fastrnn's names
The products are csrc/quant.c's; kernels() says which one each format runs on this CPU.
"""
from .formats import WEIGHT_FORMATS
from .layers import QuantizedGRU, QuantizedLSTM, QuantizedRNN, quantize_dynamic

__all__ = ["quantize_dynamic", "QuantizedRNN", "QuantizedLSTM", "QuantizedGRU", "WEIGHT_FORMATS", "kernels",
           "kernels_summary"]


def kernels():
    """{format: (kernel in use, [kernels this CPU runs, best first])}, e.g. {"bfloat16": ("avx512-bf16", [...])}.
    bfloat16 without AVX512_BF16 widens the weights on load ("avx512", "avx2" or "c")."""
    from .. import _kernels
    return {fmt: (_kernels.quant_kernel_in_use(fmt), _kernels.quant_kernels(fmt)) for fmt in WEIGHT_FORMATS}


def kernels_summary():
    """One line for reports, e.g. "int8 avx512-vnni, bfloat16 avx512-bf16, float16 avx512"; says when bfloat16 runs
    without vdpbf16ps (a CPU without AVX512_BF16, or a forced kernel): the weights are widened on load."""
    parts = []
    for fmt, (used, available) in kernels().items():
        note = ""
        if fmt == "bfloat16" and "avx512-bf16" not in available:
            note = " (this CPU has no AVX512_BF16: weights widened on load)"
        elif fmt == "bfloat16" and used != "avx512-bf16":
            note = " (vdpbf16ps available, not used: weights widened on load)"
        parts.append(f"{fmt} {used}{note}")
    return ", ".join(parts)
