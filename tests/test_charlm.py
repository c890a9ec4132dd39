"""The character language model (Embedding -> LSTM -> Linear, generating with step()) against torch on the same
weights: the model shipped in fastrnn/data, and fresh random ones of other shapes. float32, tolerance 2e-5 of the
largest logit (conftest.assert_close)."""
import importlib.util
import io
import os

import numpy as np
import pytest

import fastrnn
from fastrnn.demo import MODEL, CharLM, generate, read_meta

from conftest import RTOL, assert_close, require_torch

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def torch_charlm(torch, vocab, embed, hidden, layers):
    """The torch definition (as tools/train_demo_model.py trains it)."""
    class TorchCharLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab, embed)
            self.lstm = torch.nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
            self.head = torch.nn.Linear(hidden, vocab)

        def forward(self, ids, state=None):
            out, state = self.lstm(self.embedding(ids), state)
            return self.head(out), state

    return TorchCharLM().eval()


def shipped_torch_model(torch):
    sd = torch.load(MODEL, weights_only=True)
    vocab, embed = sd["embedding.weight"].shape
    layers = sum(k.startswith("lstm.weight_ih_l") for k in sd)
    model = torch_charlm(torch, vocab, embed, sd["lstm.weight_hh_l0"].shape[1], layers)
    model.load_state_dict(sd)
    return model


def torch_greedy(torch, model, prompt_ids, length):
    """Greedy continuation by torch alone: the prompt in one call, then one character per call."""
    with torch.inference_mode():
        logits, state = model(torch.from_numpy(prompt_ids)[None])
        out = []
        for _ in range(length):
            out.append(int(logits[0, -1].argmax()))
            logits, state = model(torch.tensor([[out[-1]]]), state)
    return np.array(out)


def test_shipped_model_logits_match_torch():
    torch = require_torch()
    reference = shipped_torch_model(torch)
    model = CharLM.load()
    ids = np.random.default_rng(0).integers(0, len(model.alphabet), (5, 60))
    with torch.inference_mode():
        expected, (h, c) = reference(torch.from_numpy(ids))
    logits, (h_f, c_f) = model.run(ids)
    assert logits.dtype == np.float32
    assert_close(logits, expected.numpy(), RTOL[np.float32], "logits")
    assert_close(h_f, h.numpy(), RTOL[np.float32], "h_n")
    assert_close(c_f, c.numpy(), RTOL[np.float32], "c_n")


def test_shipped_model_greedy_text_equals_torch():
    torch = require_torch()
    model = CharLM.load()
    prompt = model.encode("Alice was beginning ")
    ours = generate(model, prompt, 300)
    np.testing.assert_array_equal(ours, torch_greedy(torch, shipped_torch_model(torch), prompt, 300))
    text = model.decode(ours)
    assert len(set(text)) > 10, f"a trained model writes varied text; got {text!r}"


def test_step_by_step_equals_whole_sequence():
    """Feeding characters one by one through step() gives the logits of one run() over the whole sequence."""
    model = CharLM.load()
    ids = np.random.default_rng(1).integers(0, len(model.alphabet), (3, 40))
    whole, _ = model.run(ids)
    _, state = model.run(ids[:, :10])
    for t in range(10, 40):
        logits, state = model.step(ids[:, t], state)
        assert_close(logits, whole[:, t], RTOL[np.float32], f"step {t}")


@pytest.mark.parametrize("layers, embed, hidden", [(1, 5, 7), (3, 8, 16)])
def test_random_models_match_torch(tmp_path, layers, embed, hidden):
    """Other sizes, through a real torch.save file and fastrnn.load, greedy text included."""
    torch = require_torch()
    torch.manual_seed(layers)
    alphabet = "abcdefghij .,"
    reference = torch_charlm(torch, len(alphabet), embed, hidden, layers)
    path = tmp_path / "lm.pt"
    torch.save(reference.state_dict(), path)
    model = CharLM.from_state_dict(fastrnn.load(path), alphabet)
    ids = np.random.default_rng(2).integers(0, len(alphabet), (4, 25))
    with torch.inference_mode():
        expected, _ = reference(torch.from_numpy(ids))
    assert_close(model.run(ids)[0], expected.numpy(), RTOL[np.float32], "logits")
    prompt = model.encode("abc")
    np.testing.assert_array_equal(generate(model, prompt, 50), torch_greedy(torch, reference, prompt, 50))


def test_example_script_generates_torch_greedy_text():
    torch = require_torch()
    spec = importlib.util.spec_from_file_location("charlm_generate", os.path.join(EXAMPLES, "charlm_generate.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    printed = io.StringIO()
    text = example.main(["--prompt", "The Queen ", "--length", "120"], out=printed)
    model = CharLM.load()
    expected = model.decode(torch_greedy(torch, shipped_torch_model(torch), model.encode("The Queen "), 120))
    assert text == expected
    assert printed.getvalue() == "The Queen " + expected + "\n"


def test_sampling_is_deterministic_per_seed():
    model = CharLM.load()
    prompt = model.encode("Alice ")
    first = generate(model, prompt, 150, np.random.default_rng(7), temperature=0.8)
    again = generate(model, prompt, 150, np.random.default_rng(7), temperature=0.8)
    other = generate(model, prompt, 150, np.random.default_rng(8), temperature=0.8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


# ------------------------------------------------------------------------------------------- bad input
def test_prompt_outside_the_alphabet_is_refused():
    model = CharLM.load()
    with pytest.raises(ValueError, match="does not know: '#1'"):
        model.encode("Alice #1")
    with pytest.raises(ValueError, match="non-empty"):
        model.encode("")


def test_token_ids_out_of_range_are_refused():
    model = CharLM.load()
    with pytest.raises(IndexError, match="idx must lie in"):
        model.run(np.array([[0, len(model.alphabet)]]))
    with pytest.raises(IndexError, match="idx must lie in"):
        model.step(np.array([-1]), None)


def test_state_dict_of_another_architecture_is_refused():
    sd = dict(fastrnn.load(MODEL))
    alphabet = read_meta(MODEL)["alphabet"]
    del sd["embedding.weight"]
    with pytest.raises(fastrnn.FormatError, match="missing key 'embedding.weight'"):
        CharLM.from_state_dict(sd, alphabet)
    sd = dict(fastrnn.load(MODEL), **{"head.scale": np.ones(3, np.float32)})
    with pytest.raises(fastrnn.FormatError, match="unexpected key 'head.scale'"):
        CharLM.from_state_dict(sd, alphabet)
    with pytest.raises(fastrnn.FormatError, match="vocabulary sizes disagree"):
        CharLM.from_state_dict(fastrnn.load(MODEL), alphabet[:-1])
    with pytest.raises(TypeError, match="distinct characters"):
        CharLM.from_state_dict(fastrnn.load(MODEL), "aa")


def test_model_file_without_its_alphabet_is_refused(tmp_path):
    path = tmp_path / "lm.pt"
    path.write_bytes(open(MODEL, "rb").read())
    with pytest.raises(fastrnn.FormatError, match="JSON beside it"):
        CharLM.load(str(path))
    (tmp_path / "lm.json").write_text("{not json")
    with pytest.raises(fastrnn.FormatError, match="not valid JSON"):
        CharLM.load(str(path))
