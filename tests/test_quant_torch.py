"""torch's quantized-dynamic LSTM/GRU state dicts: read without torch by fastrnn.load, built by from_state_dict,
matching torch's quantized outputs to within torch's own quantization error; hostile variants refused."""
import re
import warnings
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import FormatError, UnsafeFileError
from fastrnn.quant import QuantizedGRU, QuantizedLSTM

from conftest import require_torch


def _quantized_torch(torch, module, dtype="qint8", per_channel=False):
    """module wrapped, quantized by torch.ao.quantization.quantize_dynamic; returns the quantized wrapper."""
    from torch.ao.quantization import (default_dynamic_qconfig, float16_dynamic_qconfig,
                                       per_channel_dynamic_qconfig, quantize_dynamic)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = module

    qconfig = float16_dynamic_qconfig if dtype == "float16" else \
        per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(Wrapper(), {torch.nn.LSTM: qconfig, torch.nn.GRU: qconfig},
                                dtype=torch.float16 if dtype == "float16" else torch.qint8)


CASES = {
    "lstm2": ("LSTM", dict(num_layers=2), "qint8", False),
    "lstm_bi_per_channel": ("LSTM", dict(bidirectional=True), "qint8", True),
    "gru2_bi": ("GRU", dict(num_layers=2, bidirectional=True), "qint8", False),
    "lstm_fp16": ("LSTM", dict(num_layers=2), "float16", False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_torch_quantized_state_dicts_load_and_match_torch(case, tmp_path):
    torch = require_torch()
    mode, options, dtype, per_channel = CASES[case]
    torch.manual_seed(0)
    float_module = getattr(torch.nn, mode)(10, 24, **options)
    qmodel = _quantized_torch(torch, float_module, dtype, per_channel)
    path = tmp_path / "q.pt"
    torch.save(qmodel.state_dict(), path)
    layer = getattr(fastrnn, mode).from_state_dict(fastrnn.load(path), prefix="rnn.")
    assert type(layer) is {"LSTM": QuantizedLSTM, "GRU": QuantizedGRU}[mode]
    assert layer.weight_format == ("float16" if dtype == "float16" else "int8")
    x = torch.randn(60, 3, 10)
    with torch.no_grad():
        torch_q, torch_f = qmodel.rnn(x)[0].numpy(), float_module(x)[0].numpy()
    ours = layer(x.numpy())[0]
    torch_error = np.abs(torch_q - torch_f).max()
    # both quantize the same weights; they differ by their activation quantization (torch: per tensor, 7 bits
    # with reduce_range; fastrnn: per row, 8 bits), each of which is torch's own error in size
    assert np.abs(ours - torch_q).max() <= max(2 * torch_error, 1e-6)
    assert np.abs(ours - torch_f).max() <= max(torch_error, 1e-6) * 1.05


def test_one_bidirectional_layer_and_two_layers_with_input_equal_hidden_are_told_apart_by_an_option(tmp_path):
    torch = require_torch()
    torch.manual_seed(1)
    module = torch.nn.LSTM(8, 8, bidirectional=True)
    torch.save(_quantized_torch(torch, module).state_dict(), tmp_path / "q.pt")
    sd = fastrnn.load(tmp_path / "q.pt")
    with pytest.raises(FormatError, match="pass bidirectional=True or False"):
        fastrnn.LSTM.from_state_dict(sd, prefix="rnn.")
    layer = fastrnn.LSTM.from_state_dict(sd, prefix="rnn.", bidirectional=True)
    assert layer.bidirectional and layer.num_layers == 1
    assert fastrnn.LSTM.from_state_dict(sd, prefix="rnn.", bidirectional=False).num_layers == 2


def test_inspect_names_the_quantized_layer(tmp_path, capsys):
    torch = require_torch()
    torch.save(_quantized_torch(torch, torch.nn.GRU(5, 7, 2)).state_dict(), tmp_path / "q.pt")
    from fastrnn.io.cli import inspect_main
    assert inspect_main(str(tmp_path / "q.pt")) == 0
    out = capsys.readouterr().out
    assert "rnn. GRU(5, 7, num_layers=2), int8 weights with per-row scales (torch quantize_dynamic)" in \
        " ".join(out.split())   # (wrapped at 80 columns)
    assert "num_layers=2" in out and "fastrnn.GRU.from_state_dict" in out


# ------------------------------------------------------------------------------------------- hostile files
@pytest.fixture(scope="module")
def quantized_file(tmp_path_factory):
    torch = require_torch()
    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("q") / "q.pt"
    torch.save(_quantized_torch(torch, torch.nn.LSTM(4, 8)).state_dict(), path)
    return path


def _with_pickle(src, dst, edit=None):
    """A copy of the torch.save zip src with data.pkl replaced by edit(data.pkl) (edit None: unchanged)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if edit is not None and info.filename.endswith("/data.pkl"):
                edited = edit(data)
                assert edited != data, "the edit did not apply"
                data = edited
            zout.writestr(info.filename, data)
    return dst


def test_the_unedited_copy_loads(quantized_file, tmp_path):
    path = _with_pickle(quantized_file, tmp_path / "copy.pt")
    assert "rnn._all_weight_values.0.param" in fastrnn.load(path)


_HOSTILE = {
    "other TorchScript class": (lambda d: d.replace(b"rnn.CellParamsBase", b"rnn.CellParamsEvil"), FormatError,
                                "only torch's quantized RNN weights"),
    "unknown cell kind": (lambda d: d.replace(b"quantized_dynamic", b"quantized_dynamiX"), FormatError,
                          "only torch's dynamically quantized"),
    "ScriptObject with arguments": (lambda d: re.sub(rb"(ScriptObject\nq.)\)\x81",
                                                        lambda m: m.group(1) + b"K\x01\x85\x81", d, count=1),
                                    FormatError, "with arguments"),
    "non-zero zero point": (lambda d: re.sub(rb"(G.{8})K\x00\x87", lambda m: m.group(1) + b"K\x05\x87", d,
                                                   count=1, flags=re.S),
                            FormatError, "non-zero zero points"),
    "unknown qscheme": (lambda d: d.replace(b"per_tensor_affine", b"per_tensor_affinX"), UnsafeFileError,
                        "refused to load global torch.per_tensor_affinX"),
    "code instead of ScriptObject": (lambda d: d.replace(b"ctorch\nScriptObject\n", b"cos\nsystem\n"),
                                     UnsafeFileError, "refused to load global os.system"),
    "quint8 storage": (lambda d: d.replace(b"torch\nQInt8Storage", b"torch\nQUInt8Storage"), FormatError,
                       "QUInt8Storage"),
    "negative scale": (lambda d: re.sub(rb"G(.{8})K\x00\x87", lambda m: b"G" + bytes([m.group(1)[0] | 0x80]) +
                                        m.group(1)[1:] + b"K\x00\x87", d, count=1, flags=re.S), FormatError,
                       "finite and positive"),
}


@pytest.mark.parametrize("name", list(_HOSTILE))
def test_hostile_variants_are_refused(name, quantized_file, tmp_path):
    edit, error, message = _HOSTILE[name]
    path = _with_pickle(quantized_file, tmp_path / "evil.pt", edit)
    with pytest.raises(error, match=message):
        fastrnn.load(path)
