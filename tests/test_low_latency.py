"""fastrnn.set_low_latency: idle workers keep spinning between calls while it is on (csrc/pool.c), go back to
sleeping once it is off, and results are the same either way (checked against fastrnn/reference.py)."""
import time

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import _kernels, reference

SLEEP_DEADLINE_S = 5.0   # not a timing check: workers go to sleep 50 us after their last task


@pytest.fixture
def low_latency_off_after(two_threads):
    yield
    fastrnn.set_low_latency(False)


def wide_call():
    """A call whose products split across both threads (the workers start and run a part)."""
    layer = fastrnn.LSTM(64, 256, seed=0)
    layer(np.ones((50, 16, 64), np.float32))


def wait_until_asleep():
    deadline = time.monotonic() + SLEEP_DEADLINE_S
    while not _kernels.pool_asleep():
        assert time.monotonic() < deadline, "workers still spinning long after the call returned"
        time.sleep(0.001)


def test_workers_stay_awake_only_while_asked(low_latency_off_after):
    assert fastrnn.get_low_latency() is False
    wide_call()
    wait_until_asleep()   # the default: no thread spins once a call returns
    fastrnn.set_low_latency(True)
    assert fastrnn.get_low_latency() is True
    wide_call()           # a sleeping worker is woken by the next task, then spins
    for _ in range(20):
        time.sleep(0.005)
        assert not _kernels.pool_asleep()
    fastrnn.set_low_latency(False)
    wait_until_asleep()


def test_paced_steps_are_exact(low_latency_off_after, dtype):
    fastrnn.set_low_latency(True)
    layer = fastrnn.GRU(32, 512, num_layers=2, dtype=dtype, seed=1)
    x = np.random.default_rng(0).standard_normal((6, 1, 32)).astype(dtype)
    state, outs = None, []
    for t in range(6):
        y, state = layer.step(x[t], state)
        outs.append(y)
        time.sleep(0.001)
    expected, _ = reference.rnn_forward("GRU", x, layer.state_dict(), hidden_size=512, num_layers=2)
    assert_close(np.stack(outs), expected, RTOL[dtype], "steps")


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_the_switch_is_a_bool(bad):
    with pytest.raises(TypeError, match="enabled must be a bool"):
        fastrnn.set_low_latency(bad)
