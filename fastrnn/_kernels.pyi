# Type stubs of the compiled time loops (fastrnn/_kernels.pyx); shapes are in that file's docstrings.
from typing import Optional

import numpy as np

RNN_TANH: int
RNN_RELU: int
LSTM: int
GRU: int
GRU_RB: int

class Cell:
    is_double: bool
    dtype: np.dtype
    def __init__(self, mode: int, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: Optional[np.ndarray],
                 b_hh: Optional[np.ndarray], w_hr: Optional[np.ndarray], peep: Optional[np.ndarray]) -> None: ...

class StepRunner:
    dtype: np.dtype
    def __init__(self, cells: list[Cell], B: int) -> None: ...
    def step(self, x: np.ndarray, h: np.ndarray, c: Optional[np.ndarray]) -> None: ...
    def fast_step(self, x: object, state: object) -> Optional[tuple]: ...

def forward_direction(cell: Cell, x: np.ndarray, h: np.ndarray, c: Optional[np.ndarray], batch_sizes: np.ndarray,
                      reverse: bool, out: np.ndarray, col0: int, tape: Optional[dict] = None) -> None: ...
def backward_direction(cell: Cell, tape: dict, x: np.ndarray, d_out: np.ndarray, col0: int, dh: np.ndarray,
                       dc: Optional[np.ndarray], batch_sizes: np.ndarray, reverse: bool, dx: np.ndarray,
                       grads: dict) -> None: ...
def all_finite(a: np.ndarray) -> bool: ...
def blas_info() -> tuple[str, int]: ...
def set_blas_threads(n: int) -> None: ...
