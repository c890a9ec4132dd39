"""Issue 15 defect 15, three ends left open by the previous round: an in-place weight change between
forward_train and backward is detected (torch counts versions for this), a broadcast input standing for more
bytes than the machine has is refused before it is copied, and .npy/.npz arrays stored big-endian load native."""
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import _validation


@pytest.mark.parametrize("cls", [fastrnn.LSTM, fastrnn.GRU, fastrnn.RNN])
@pytest.mark.parametrize("name", ["weight_hh_l0", "bias_ih_l1", "weight_ih_l1_reverse"])
def test_an_in_place_weight_change_before_backward_is_refused(cls, name, rng):
    layer = cls(3, 4, num_layers=2, bidirectional=True, seed=0)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out, _, tape = layer.forward_train(x)
    before = layer.params[name].copy()
    layer.params[name][0] += 0.1                      # an optimizer step between forward_train and backward
    with pytest.raises(ValueError, match=rf"params\['{name}'\] was changed in place since forward_train"):
        layer.backward(tape, np.ones_like(out))
    assert not any(g.any() for g in layer.grads.values())   # nothing was accumulated
    layer.params[name][...] = before                  # the values the tape was made with: backward runs
    layer.backward(tape, np.ones_like(out))


def test_an_unchanged_layer_still_runs_backward_twice(rng):
    layer = fastrnn.LSTM(3, 4, seed=0)
    out, _, tape = layer.forward_train(rng.standard_normal((5, 2, 3)).astype(np.float32))
    first = layer.backward(tape, np.ones_like(out))[0]
    np.testing.assert_array_equal(layer.backward(tape, np.ones_like(out))[0], first)


def test_a_broadcast_input_beyond_memory_is_refused_before_copying(monkeypatch):
    monkeypatch.setattr(_validation, "physical_memory_bytes", lambda: 1 << 20)   # a 1 MiB machine
    layer = fastrnn.GRU(8, 4, seed=0)
    x = np.broadcast_to(np.float32(1), (1000, 100, 8))   # 3.2 MB as a copy, 4 bytes as a view
    with pytest.raises(ValueError, match=r"a contiguous float32 copy of x \(1000, 100, 8\) needs 0.0 GiB, more than "
                                         r"this machine's 0.0 GiB"):
        layer(x)
    with pytest.raises(ValueError, match="x_t"):
        layer.step(np.broadcast_to(np.float32(1), (40_000, 8)))


def test_an_output_beyond_memory_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(_validation, "physical_memory_bytes", lambda: 1 << 20)
    layer = fastrnn.LSTM(1, 64, seed=0)
    x = np.zeros((2000, 4, 1), np.float32)                # 32 KB in, 2 MB out
    with pytest.raises(ValueError, match=r"the output of 2000 steps of 4 rows"):
        layer(x)


def _write_npz(path, arrays):
    with zipfile.ZipFile(path, "w") as archive:
        for key, arr in arrays.items():
            with archive.open(key + ".npy", "w") as member:
                np.lib.format.write_array(member, arr)


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
@pytest.mark.parametrize("fortran", [False, True])
def test_big_endian_arrays_load_native(tmp_path, rng, suffix, fortran):
    w = rng.standard_normal((6, 5))
    stored = {"f4": w.astype(">f4"), "f8": w.astype(">f8"), "i4": np.arange(6).astype(">i4")}
    if fortran:
        stored = {k: np.asfortranarray(a) for k, a in stored.items()}
    path = tmp_path / ("w" + suffix)
    if suffix == ".npy":
        np.save(path, stored["f4"])
        loaded = {"f4": fastrnn.load(path)}
    else:
        _write_npz(path, stored)
        loaded = fastrnn.load(path)
    for key, arr in loaded.items():
        assert arr.dtype.isnative and arr.dtype == stored[key].dtype.newbyteorder("=")
        np.testing.assert_array_equal(arr, stored[key])
    layer = fastrnn.LSTM(5, 2, seed=0)                   # and the values reach a layer as they are
    x = loaded["f4"][None]
    np.testing.assert_array_equal(layer(x)[0], layer(w.astype(np.float32)[None])[0])
