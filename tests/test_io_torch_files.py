"""Real files written by torch.save, read by fastrnn.load without torch's help: values, dtypes, nesting, views,
shared storages, both torch file formats, a process where `import torch` fails, and layers built from them that
reproduce torch's outputs."""
import os
import subprocess
import sys
import textwrap
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch
from fastrnn import FormatError, UnsafeFileError


def as_numpy(tensor):
    tensor = tensor.detach()
    if str(tensor.dtype) == "torch.bfloat16":
        tensor = tensor.float()
    return tensor.numpy()


def assert_same_tree(actual, expected, torch, path="root"):
    """fastrnn.load's result equals torch.load's: arrays for tensors (same dtype, shape, values), same nesting."""
    if isinstance(expected, torch.Tensor):
        want = as_numpy(expected)
        assert isinstance(actual, np.ndarray), f"{path}: {type(actual).__name__} instead of an array"
        assert actual.dtype == want.dtype and actual.shape == want.shape, \
            f"{path}: {actual.dtype}{actual.shape} != {want.dtype}{want.shape}"
        np.testing.assert_array_equal(actual, want, err_msg=path)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), f"{path}: keys differ"
        for key in expected:
            assert_same_tree(actual[key], expected[key], torch, f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same_tree(a, e, torch, f"{path}.{i}")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


class _Net:
    """Embedding -> 3-layer bidirectional LSTM -> Linear, the issue's example model."""

    @staticmethod
    def make(torch):
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = torch.nn.Embedding(50, 12)
                self.lstm = torch.nn.LSTM(12, 16, num_layers=3, bidirectional=True, batch_first=True)
                self.head = torch.nn.Linear(32, 5)

            def forward(self, tokens):
                out, _ = self.lstm(self.embedding(tokens))
                return self.head(out)

        torch.manual_seed(0)
        return Net().eval()


def _numpy_net(sd, tokens):
    """The same model with fastrnn and NumPy, from the loaded state dict only."""
    lstm = fastrnn.LSTM.from_state_dict(sd, prefix="lstm.", batch_first=True)
    out, _ = lstm(sd["embedding.weight"][tokens])
    return out @ sd["head.weight"].T + sd["head.bias"], lstm


def test_lstm_state_dict(tmp_path):
    torch = require_torch()
    module = torch.nn.LSTM(5, 7, num_layers=2)
    torch.save(module.state_dict(), tmp_path / "lstm.pt")
    sd = fastrnn.load(tmp_path / "lstm.pt")
    assert isinstance(sd, OrderedDict)
    assert_same_tree(sd, module.state_dict(), torch)
    assert all(a.dtype == np.float32 for a in sd.values())


def test_nested_model_loads_and_reproduces_torch(tmp_path):
    torch = require_torch()
    net = _Net.make(torch)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    sd = fastrnn.load(tmp_path / "net.pt")
    tokens = np.random.default_rng(1).integers(0, 50, size=(3, 9))
    logits, lstm = _numpy_net(sd, tokens)
    with torch.no_grad():
        expected = net(torch.from_numpy(tokens)).numpy()
    assert_close(logits, expected, RTOL[np.float32], "logits")
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional) == (12, 16, 3, True)
    [found] = fastrnn.find_recurrent_layers(sd)
    assert found["prefix"] == "lstm." and found["mode"] == "LSTM" and found["config"]["num_layers"] == 3


def test_checkpoint_with_optimizer_state_keeps_its_nesting(tmp_path):
    torch = require_torch()
    net = _Net.make(torch)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randint(0, 50, (2, 4))).sum().backward()
    optimizer.step()
    checkpoint = {"model": net.state_dict(), "epoch": 3, "optimizer": optimizer.state_dict(),
                  "loss_history": [0.5, 0.25], "config": {"name": "net", "betas": (0.9, 0.999), "ok": True}}
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    loaded = fastrnn.load(tmp_path / "ckpt.pt")
    assert_same_tree(loaded, torch.load(tmp_path / "ckpt.pt", weights_only=True), torch)
    assert loaded["epoch"] == 3 and loaded["config"]["betas"] == (0.9, 0.999)
    assert isinstance(loaded["optimizer"]["state"][0]["exp_avg"], np.ndarray)
    layer = fastrnn.LSTM.from_state_dict(loaded, prefix="model.lstm.")  # nested: dotted prefix reaches in
    assert layer.num_layers == 3


def test_views_offsets_strides_and_shared_storages(tmp_path):
    torch = require_torch()
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    tensors = {
        "base": base, "transposed": base.t(), "rows": base[1:4], "every_other": base[:, ::2],
        "column": base[:, 3], "offset_flat": base.view(-1)[7:23], "expanded": torch.ones(3, 1).expand(3, 4),
        "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3), "tied": base,
    }
    torch.save(tensors, tmp_path / "views.pt")
    for mmap in (True, False):
        loaded = fastrnn.load(tmp_path / "views.pt", mmap=mmap)
        assert_same_tree(loaded, tensors, torch)
        assert loaded["tied"] is loaded["base"]                       # pickle memo: the same object
        for name in ("transposed", "rows", "every_other", "column", "offset_flat"):
            assert np.shares_memory(loaded[name], loaded["base"]), name   # one storage, as in torch
        loaded["base"][1, 0] = -1.0                                   # writable; views see it, as in torch
        assert loaded["rows"][0, 0] == -1.0 and loaded["transposed"][0, 1] == -1.0
    assert fastrnn.load(tmp_path / "views.pt")["base"][1, 0] == 10.0  # the file is unchanged


@pytest.mark.parametrize("dtype_name, numpy_dtype", [
    ("float32", np.float32), ("float64", np.float64), ("float16", np.float16), ("bfloat16", np.float32),
    ("int64", np.int64), ("int32", np.int32), ("int16", np.int16), ("int8", np.int8), ("uint8", np.uint8),
    ("bool", np.bool_), ("complex64", np.complex64), ("uint16", np.uint16), ("uint32", np.uint32),
])
def test_dtypes(tmp_path, dtype_name, numpy_dtype):
    torch = require_torch()
    dtype = getattr(torch, dtype_name)
    values = torch.tensor([[0, 1, 2], [3, 100, 7]]).to(dtype) if dtype_name.startswith("uint") and \
        dtype_name != "uint8" else (torch.randn(2, 3) * 50).to(dtype)
    torch.save({"x": values, "y": values[:, 1:]}, tmp_path / "t.pt")
    loaded = fastrnn.load(tmp_path / "t.pt")
    assert loaded["x"].dtype == numpy_dtype
    expected = values.float() if dtype_name == "bfloat16" else values  # bfloat16 -> float32 is exact
    np.testing.assert_array_equal(loaded["x"], expected.numpy())
    np.testing.assert_array_equal(loaded["y"], expected.numpy()[:, 1:])


def test_parameters_and_tensors_with_attributes(tmp_path):
    torch = require_torch()
    tagged = torch.randn(3)
    tagged.note = "python attribute"  # pickled through torch._tensor._rebuild_from_type_v2
    objects = {"param": torch.nn.Parameter(torch.randn(2, 2)), "tagged": tagged, "device": torch.device("cpu"),
               "size": torch.Size([2, 3]), "dtype": torch.float16, "bytes": b"\x00\xff", "set": {1, 2},
               "complex": 1 + 2j}
    torch.save(objects, tmp_path / "objects.pt")
    loaded = fastrnn.load(tmp_path / "objects.pt")
    np.testing.assert_array_equal(loaded["param"], objects["param"].detach().numpy())
    np.testing.assert_array_equal(loaded["tagged"], tagged.numpy())
    assert loaded["device"] == "cpu" and loaded["size"] == (2, 3) and loaded["dtype"] == "torch.float16"
    assert loaded["bytes"] == b"\x00\xff" and loaded["set"] == {1, 2} and loaded["complex"] == 1 + 2j


@pytest.mark.parametrize("protocol", [2, 4])
def test_legacy_format(tmp_path, protocol):
    torch = require_torch()
    net = _Net.make(torch)
    checkpoint = {"model": net.state_dict(), "epoch": 7, "half": torch.randn(4).half(),
                  "bf16": torch.randn(3, dtype=torch.bfloat16), "view": net.state_dict()["lstm.weight_ih_l0"].t()}
    path = tmp_path / "legacy.pt"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False, pickle_protocol=protocol)
    assert not zipfile.is_zipfile(path)
    loaded = fastrnn.load(path)
    # weights_only=False: torch's own safe loader cannot read protocol 4 here; this file is our own
    assert_same_tree(loaded, torch.load(path, weights_only=False), torch)
    tokens = np.arange(6).reshape(1, 6)
    logits, _ = _numpy_net(loaded["model"], tokens)
    with torch.no_grad():
        assert_close(logits, net(torch.from_numpy(tokens)).numpy(), RTOL[np.float32], "logits")


def test_archive_name_follows_the_file_name_or_is_archive(tmp_path):
    torch = require_torch()
    import io
    values = {"w": torch.randn(3)}
    buffer = io.BytesIO()
    torch.save(values, buffer)              # file objects: "archive/"
    (tmp_path / "a.bin").write_bytes(buffer.getvalue())
    torch.save(values, tmp_path / "my_model.pt")
    for name in ("a.bin", "my_model.pt"):
        np.testing.assert_array_equal(fastrnn.load(tmp_path / name)["w"], values["w"].numpy())


def test_bare_tensor_and_recompressed_archive(tmp_path):
    torch = require_torch()
    tensor = torch.randn(3, 4)
    torch.save(tensor.t(), tmp_path / "bare.pt")
    np.testing.assert_array_equal(fastrnn.load(tmp_path / "bare.pt"), tensor.t().numpy())
    # the same archive re-zipped with deflate (torch never compresses, other tools may)
    with zipfile.ZipFile(tmp_path / "bare.pt") as src, \
            zipfile.ZipFile(tmp_path / "deflated.pt", "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    for mmap in (True, False):
        np.testing.assert_array_equal(fastrnn.load(tmp_path / "deflated.pt", mmap=mmap), tensor.t().numpy())


def test_big_endian_files(tmp_path):
    torch = require_torch()
    values = {"f": torch.randn(2, 3), "d": torch.randn(4, dtype=torch.float64), "i": torch.arange(5),
              "b": torch.randn(3, dtype=torch.bfloat16), "h": torch.randn(3).half()}
    little = tmp_path / "little.pt"
    torch.save(values, little)
    big = tmp_path / "big.pt"  # the same file as a big-endian machine writes it
    sizes = {"f": 4, "d": 8, "i": 8, "b": 2, "h": 2}
    with zipfile.ZipFile(little) as src, zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as dst:
        keys_by_size = {}
        for name in src.namelist():
            payload = src.read(name)
            if name.endswith("/byteorder"):
                payload = b"big"
            elif "/data/" in name:
                keys_by_size[name] = payload
                continue
            dst.writestr(name, payload)
        # storages are numbered in the order the tensors were pickled: f, d, i, b, h
        for name, key in zip(sorted(keys_by_size, key=lambda n: int(n.rsplit("/", 1)[1])), "fdibh"):
            swapped = np.frombuffer(keys_by_size[name], f"<u{sizes[key]}").byteswap().tobytes()
            dst.writestr(name, swapped)
    loaded = fastrnn.load(big)
    for key, tensor in values.items():
        np.testing.assert_array_equal(loaded[key], as_numpy(tensor), err_msg=key)
        assert loaded[key].dtype.isnative


def test_whole_pickled_model_is_refused_with_a_hint(tmp_path):
    torch = require_torch()
    torch.save(torch.nn.LSTM(3, 4), tmp_path / "model.pt")
    with pytest.raises(UnsafeFileError, match=r"torch\.nn\.modules\.rnn\.LSTM.*torch\.save\(model\.state_dict"):
        fastrnn.load(tmp_path / "model.pt")


class _Payload:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_malicious_object_saved_by_torch_is_refused(tmp_path):
    torch = require_torch()
    sentinel = tmp_path / "PWNED"
    torch.save({"weight": torch.randn(3), "payload": _Payload(sentinel)}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeFileError, match=r"system"):
        fastrnn.load(tmp_path / "evil.pt")
    assert not sentinel.exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit's own deprecation notices
def test_torchscript_archive_is_explained(tmp_path):
    torch = require_torch()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 3)), tmp_path / "scripted.pt")
    with pytest.raises(FormatError, match=r"TorchScript archive \(torch\.jit\.save\)"):
        fastrnn.load(tmp_path / "scripted.pt")


def test_loaded_layer_round_trips_into_torch(tmp_path):
    torch = require_torch()
    layer = fastrnn.LSTM(6, 8, num_layers=2, bidirectional=True, proj_size=3, seed=4)
    fastrnn.save(tmp_path / "layer.safetensors", layer.state_dict())
    module = torch.nn.LSTM(6, 8, num_layers=2, bidirectional=True, proj_size=3)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in fastrnn.load(tmp_path / "layer.safetensors").items()})
    x = np.random.default_rng(0).standard_normal((5, 2, 6)).astype(np.float32)
    out, (h, c) = layer(x)
    with torch.no_grad():
        expected, (h_t, c_t) = module(torch.from_numpy(x))
    assert_close(out, expected.numpy(), RTOL[np.float32], "out")
    assert_close(h, h_t.numpy(), RTOL[np.float32], "h_n")
    assert_close(c, c_t.numpy(), RTOL[np.float32], "c_n")


def _pythonpath():
    """The folder holding the fastrnn this test imported, for subprocesses run outside the repository."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
    return os.pathsep.join([here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def test_loads_in_a_process_where_torch_cannot_be_imported(tmp_path):
    torch = require_torch()
    net = _Net.make(torch)
    torch.save({"model": net.state_dict(), "epoch": 1}, tmp_path / "net.pt")
    tokens = np.random.default_rng(2).integers(0, 50, size=(2, 5))
    with torch.no_grad():
        np.save(tmp_path / "expected.npy", net(torch.from_numpy(tokens)).numpy())
    np.save(tmp_path / "tokens.npy", tokens)
    script = textwrap.dedent("""
        import sys

        class BlockTorch:  # any attempt to import torch fails, and is recorded
            attempts = []
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    self.attempts.append(name)
                    raise ImportError("torch is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockTorch())
        try:
            import torch
            raise SystemExit("torch imported although blocked")
        except ImportError:
            pass
        BlockTorch.attempts.clear()

        import numpy as np
        import fastrnn
        ckpt = fastrnn.load("net.pt")
        sd = ckpt["model"]
        lstm = fastrnn.LSTM.from_state_dict(ckpt, prefix="model.lstm.", batch_first=True)
        out, _ = lstm(sd["embedding.weight"][np.load("tokens.npy")])
        logits = out @ sd["head.weight"].T + sd["head.bias"]
        err = np.abs(logits - np.load("expected.npy")).max()
        assert err < 1e-4, err
        assert not BlockTorch.attempts, BlockTorch.attempts
        assert "torch" not in sys.modules
        print("ok", ckpt["epoch"])
    """)
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok 1"
