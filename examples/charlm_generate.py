"""A character language model trained in torch, generating text in fastrnn without torch, one LSTM.step() per
character.

The torch model (tools/train_demo_model.py trained the one shipped with fastrnn; tests/test_charlm.py checks
that fastrnn's logits and greedy text equal torch's):

    class CharLM(torch.nn.Module):                          # ids (B, T) -> logits (B, T, V)
        embedding = torch.nn.Embedding(V, E)
        lstm = torch.nn.LSTM(E, H, num_layers=L, batch_first=True)
        head = torch.nn.Linear(H, V)
    torch.save(model.state_dict(), "charlm.pt")             # plus the alphabet: token k is alphabet[k]

In fastrnn, fastrnn.load reads the file without torch; CharLM.from_state_dict builds Embedding ("embedding."),
LSTM.from_state_dict ("lstm.") and Linear ("head.") from it. The prompt runs as one sequence, which leaves the
LSTM state (h (L, 1, H), c (L, 1, H)); then each greedy character is fed back through step().

    python examples/charlm_generate.py [--weights charlm.pt] [--prompt TEXT] [--length N]
Without --weights it runs the model shipped with fastrnn (fastrnn/data/charlm.pt, trained on "Alice's Adventures
in Wonderland"). A weights file needs its alphabet in a .json beside it ({"alphabet": "..."}), as that one has.
"""
import argparse
import sys

import numpy as np

import fastrnn
from fastrnn.demo import MODEL, CharLM, read_meta


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=MODEL, help="a torch.save file of the CharLM's state dict")
    parser.add_argument("--prompt", default="The Queen ")
    parser.add_argument("--length", type=int, default=300)
    args = parser.parse_args(argv)

    model = CharLM.from_state_dict(fastrnn.load(args.weights), read_meta(args.weights)["alphabet"])
    logits, state = model.run(model.encode(args.prompt)[None, :])        # (1, T, V), state after the prompt
    logits = logits[:, -1]                                               # (1, V)
    out.write(args.prompt)
    text = ""
    for _ in range(args.length):
        next_id = np.argmax(logits, axis=1)                              # (1,): the most likely character
        text += model.alphabet[next_id[0]]
        out.write(text[-1])
        out.flush()
        logits, state = model.step(next_id, state)                       # (1, V)
    out.write("\n")
    return text


if __name__ == "__main__":
    main()
