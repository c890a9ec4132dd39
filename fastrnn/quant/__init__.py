"""Reduced-precision weights: fastrnn.quantize_dynamic(layer, dtype="int8" | "bfloat16" | "float16").

  formats      how quantized weights are stored (values + per-row "_scale"), converted and checked
  layers       QuantizedRNN / QuantizedLSTM / QuantizedGRU, quantize_dynamic, building from a state dict
  torch_state  torch's quantized-dynamic state dicts (as fastrnn.load returns them) in fastrnn's names
The products are csrc/quant.c's; kernels() says which one each format runs on this CPU.
"""
from .formats import WEIGHT_FORMATS
from .layers import QuantizedGRU, QuantizedLSTM, QuantizedRNN, quantize_dynamic

__all__ = ["quantize_dynamic", "QuantizedRNN", "QuantizedLSTM", "QuantizedGRU", "WEIGHT_FORMATS", "kernels"]


def kernels():
    """{format: (kernel in use, [kernels this CPU runs, best first])}, e.g. {"bfloat16": ("avx512-bf16", [...])}.
    bfloat16 without AVX512_BF16 widens the weights on load ("avx512", "avx2" or "c")."""
    from .. import _kernels
    return {fmt: (_kernels.quant_kernel_in_use(fmt), _kernels.quant_kernels(fmt)) for fmt in WEIGHT_FORMATS}
