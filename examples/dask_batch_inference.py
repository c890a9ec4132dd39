"""Score a large array of character sequences with fastrnn on a Dask cluster.

Each sequence's score is its mean log-probability per character (nats) under the character LM shipped with
fastrnn (fastrnn/data/charlm.pt): the higher, the more it reads like "Alice's Adventures in Wonderland".
The sequences are windows of that book (examples/data/alice.txt), half of them with their characters shuffled,
which score visibly lower.

- The sequences are a dask array (N, T+1), cut into blocks of rows; one task scores one block.
- The model is sent to every worker once (client.scatter(..., broadcast=True)); the tasks get a reference to it.
- Every worker's fastrnn uses that worker's thread count (a WorkerPlugin calls fastrnn.set_num_threads on each
  worker, including workers that join later), not every core of the machine, so workers sharing a machine do
  not oversubscribe it. (Dask's nanny starts workers with OMP_NUM_THREADS=1, which fastrnn would otherwise
  follow: one thread even on a worker given 8.)

Local cluster (default: 2 worker processes, 1 thread each):
    python examples/dask_batch_inference.py [--sequences 20000] [--length 100] [--block 500] [--workers 2]
A real cluster (`dask scheduler` on one machine, `dask worker tcp://HOST:8786 --nworkers 4 --nthreads 1` on each
of the others, fastrnn installed everywhere): the same script, with the scheduler's address
    python examples/dask_batch_inference.py --scheduler tcp://HOST:8786 --sequences 1000000
--out scores.npy saves the scores (N,) in the order of the sequences.
"""
import argparse
import os
import time

import numpy as np
from distributed import Client, LocalCluster, WorkerPlugin

import fastrnn
from fastrnn.demo import CharLM
from fastrnn.train import log_softmax

TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "alice.txt")


class FastrnnThreads(WorkerPlugin):
    """On every worker: fastrnn.set_num_threads(the worker's thread count), so the tasks of one worker use the
    cores that worker was given, and the workers of one machine do not all use every core."""

    name = "fastrnn-threads"    # registering again replaces the plugin instead of adding a second one

    def setup(self, worker):
        fastrnn.set_num_threads(worker.state.nthreads)


def make_sequences(model, n, length, seed=0):
    """(N, length + 1) uint8 token ids: windows of the book at random offsets, every odd row shuffled."""
    with open(TEXT, encoding="ascii") as f:
        text = " ".join(f.read().replace("`", "'").split())
    book = model.encode("".join(ch for ch in text if ch in model.alphabet)).astype(np.uint8)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(book) - length - 1, n)
    sequences = book[starts[:, None] + np.arange(length + 1)]         # (N, T + 1)
    for row in sequences[1::2]:
        rng.shuffle(row)
    return sequences


def score_block(model, ids):
    """Mean log-probability per character (N,) float64 of each row of ids (N, T + 1): the model reads ids[:, :-1]
    and predicts ids[:, 1:]."""
    logits, _ = model.run(ids[:, :-1])                                  # (N, T, V)
    logp = log_softmax(logits.astype(np.float64))                      # over the last axis
    return np.take_along_axis(logp, ids[:, 1:, None].astype(np.intp), axis=2)[..., 0].mean(axis=1)


def score_local(model, sequences, block):
    """score_block over the same blocks of rows in this process: what the cluster must reproduce."""
    return np.concatenate([score_block(model, sequences[i:i + block]) for i in range(0, len(sequences), block)])


def score_on_cluster(client, model, sequences, block):
    """Scores (N,) computed by the cluster's workers, block by block, in the order of the sequences."""
    import dask.array as da
    client.register_plugin(FastrnnThreads())
    model_on_workers = client.scatter(model, broadcast=True)             # sent once, kept on every worker
    ids = da.from_array(sequences, chunks=(block, sequences.shape[1]))
    blocks = client.compute(list(ids.to_delayed()[:, 0]))               # futures of the blocks (B, T + 1)
    tasks = [client.submit(score_block, model_on_workers, block) for block in blocks]
    return np.concatenate(client.gather(tasks))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=20000, help="N, number of sequences")
    parser.add_argument("--length", type=int, default=100, help="T, characters scored per sequence")
    parser.add_argument("--block", type=int, default=500, help="rows per task")
    parser.add_argument("--workers", type=int, default=2, help="local cluster: worker processes")
    parser.add_argument("--threads-per-worker", type=int, default=1, help="local cluster: threads per worker")
    parser.add_argument("--scheduler", help="address of a running scheduler (tcp://HOST:8786) instead")
    parser.add_argument("--out", help="save the scores (N,) to this .npy file")
    args = parser.parse_args(argv)
    for name in ("sequences", "length", "block", "workers", "threads_per_worker"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")

    model = CharLM.load()
    sequences = make_sequences(model, args.sequences, args.length)
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                                     processes=True, dashboard_address=None))
    with client:
        start = time.perf_counter()
        scores = score_on_cluster(client, model, sequences, args.block)
        seconds = time.perf_counter() - start
        threads = client.run(fastrnn.get_num_threads)                   # {worker address: fastrnn's threads}
    print(f"{len(threads)} workers; fastrnn threads on each: {sorted(threads.values())}")
    print(f"scored {len(scores)} sequences of {args.length} characters in {seconds:.2f} s: "
          f"{len(scores) / seconds:.0f} sequences/s ({len(scores) * args.length / seconds / 1e3:.0f}k characters/s)")
    print(f"mean score, book text {scores[0::2].mean():.3f}, shuffled {scores[1::2].mean():.3f} nats/char")
    if args.out:
        np.save(args.out, scores)
    return scores


if __name__ == "__main__":
    main()
