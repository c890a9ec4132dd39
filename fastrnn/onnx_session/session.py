"""fastrnn.InferenceSession: onnxruntime's session API over the plan of fastrnn/onnx_session/plan.py, and
its streams.

A call checks the inputs and passes them to the plan's steps compiled into one function
(fastrnn/onnx_session/executor.py): no dict is built, no weight is checked again. Nothing is written after
load, so threads may call one session at once (each call's values are its own locals). A stream
(session.stream()) runs the same steps with its own dict of carried recurrent states.
"""
import functools
import os
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from fastrnn import _kernels
from fastrnn.io.errors import FormatError

from .executor import compile_steps, failing_node
from .plan import Plan, onnx_dtype


class NodeArg:
    """An input or output of the graph, as onnxruntime describes it: name, shape (ints, strings for symbolic
    dims, None for unknown ones), type ('tensor(float)', 'tensor(int64)', ...)."""

    __slots__ = ("name", "shape", "type")
    name: str
    shape: List[Union[int, str, None]]
    type: str

    def __init__(self, onnx: Any, value: Any) -> None:
        tensor = value.type.tensor_type
        self.name = value.name
        self.type = _type_name(onnx, tensor.elem_type, value.name)
        self.shape = [d.dim_value if d.HasField("dim_value") else d.dim_param if d.HasField("dim_param") else None
                      for d in tensor.shape.dim]

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


def _type_name(onnx, elem_type, name):
    """onnxruntime's name of a tensor type: 'tensor(float)', 'tensor(int64)', ..."""
    try:
        return f"tensor({onnx.TensorProto.DataType.Name(elem_type).lower()})"
    except ValueError:
        raise FormatError(f"graph input or output {name!r} has an unknown data type {elem_type}") from None


def _infer_missing_types(onnx, model, args):
    """Fill the type of outputs the file declares without one from onnx's shape inference, as onnxruntime
    reports them (their declared shape is kept)."""
    if all(arg.type != "tensor(undefined)" for arg in args):
        return
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - inference is a courtesy here: without it the type stays undefined
        return
    elem_types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.value_info, *inferred.output]}
    for arg in args:
        if arg.type == "tensor(undefined)" and elem_types.get(arg.name):
            arg.type = _type_name(onnx, elem_types[arg.name], arg.name)


def _input_check(value):
    """(name, dtype or None, rank or None, ((axis, dim), ...) fixed dims) of a graph input."""
    tensor = value.type.tensor_type
    dtype = onnx_dtype(tensor.elem_type) if tensor.elem_type else None
    if not tensor.HasField("shape"):
        return value.name, dtype, None, ()
    fixed = tuple((axis, d.dim_value) for axis, d in enumerate(tensor.shape.dim) if d.HasField("dim_value"))
    return value.name, dtype, len(tensor.shape.dim), fixed


class InferenceSession:
    """Runs a whole ONNX model like onnxruntime.InferenceSession: recurrent nodes (LSTM, GRU, RNN) through
    fastrnn's layers, every other node through a vectorised NumPy executor planned at load.

    path_or_bytes: the .onnx file's path, or its bytes (then without external data). sess_options, providers,
    provider_options and other keywords of onnxruntime's constructor are accepted and ignored (fastrnn runs on
    the CPU with its own threads: fastrnn.set_num_threads).
    Raises FormatError at load for a file fastrnn cannot run, naming the op and node it lacks.
    """

    def __init__(self, path_or_bytes: Union[str, bytes, "os.PathLike[str]"], sess_options: Any = None,
                 providers: Optional[Sequence[Any]] = None, provider_options: Any = None, **kwargs: Any) -> None:
        from fastrnn.io.onnx_file import load_model
        from fastrnn.io.onnx_import import import_onnx

        onnx = import_onnx()
        if not isinstance(path_or_bytes, (str, bytes, bytearray, memoryview, os.PathLike)):
            raise TypeError(f"path_or_bytes must be a path or the model's bytes; got {type(path_or_bytes).__name__}")
        model, stored_bytes = load_model(onnx, path_or_bytes)
        label = "the model bytes" if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) \
            else os.fspath(path_or_bytes)
        try:
            plan = Plan(onnx, model, stored_bytes)
        except FormatError as exc:
            raise FormatError(f"{label}: {exc}") from None
        self._inputs = [NodeArg(onnx, value) for _, value in plan.inputs]
        self._outputs = [NodeArg(onnx, value) for _, value in plan.outputs]
        _infer_missing_types(onnx, model, self._outputs)
        self._checks = [_input_check(value) for _, value in plan.inputs]
        self._input_names = frozenset(name for name, _ in plan.inputs)
        self._output_index = {name: k for k, (name, _) in enumerate(plan.outputs)}
        self._plan = plan
        self._execute, self._nodes = compile_steps(plan.steps, plan.input_slots, plan.output_slots, plan.initial,
                                                   static=plan.static)
        # Whether the last run handed work to fastrnn's pool: the next run then nudges its sleeping workers first
        # (csrc/pool.c: they sleep 50 us after a task, and a session's ops on the caller's thread between two runs'
        # products take longer; an attention model at B32 T50 ran 45-60 us of its 400-450 faster with workers that
        # never sleep, and the nudge recovers part of that).
        self._used_pool = False

    def get_inputs(self) -> List[NodeArg]:
        """The graph inputs the caller feeds (initializers excluded), as NodeArg (.name, .shape, .type)."""
        return list(self._inputs)

    def get_outputs(self) -> List[NodeArg]:
        """The graph outputs, as NodeArg (.name, .shape, .type)."""
        return list(self._outputs)

    def get_providers(self) -> List[str]:
        return ["CPUExecutionProvider"]

    def run(self, output_names: Optional[Sequence[str]], input_feed: Dict[str, Any],
            run_options: Any = None) -> List[np.ndarray]:
        """[array per name of `output_names`] (all outputs, in graph order, for None) from input_feed {name: array}."""
        return self._run(self._execute, self._nodes, output_names, input_feed)

    def stream(self) -> "InferenceStream":
        """A stateful handle with the same run(): each recurrent node whose initial states are not graph inputs
        starts each call from its final states of the previous call (reset() forgets them)."""
        return InferenceStream(self)

    def _run(self, execute, nodes, output_names, input_feed):
        args = self._feed(input_feed)
        picks = None if output_names is None else self._picks(output_names)
        tasks = _kernels.pool_tasks()
        if self._used_pool:   # wake sleeping workers now, so that they spin by the time the first product comes
            _kernels.pool_nudge()
        try:
            results = execute(*args)
        except (ValueError, TypeError, IndexError) as exc:
            node = failing_node(exc, nodes)
            if node is not None and repr(node.name) not in str(exc):
                raise type(exc)(f"{node.op} node {node.name!r}: {exc}") from exc
            raise
        self._used_pool = _kernels.pool_tasks() != tasks   # a hint: other threads' work counts too
        if picks is None:
            return [_owned(value, args) for value in results]
        return [_owned(results[k], args) for k in picks]

    def _feed(self, input_feed):
        """The arrays of input_feed in the graph inputs' order, each checked (name, dtype, shape)."""
        if not isinstance(input_feed, dict):
            raise TypeError(f"input_feed must be a dict {{input name: array}}; got {type(input_feed).__name__}")
        fed = []
        for name, dtype, rank, fixed in self._checks:
            value = input_feed.get(name)
            if value is None:
                missing = [check[0] for check in self._checks if input_feed.get(check[0]) is None]
                raise ValueError(f"input_feed has no {', '.join(map(repr, missing))}; the model's inputs are "
                                 f"{[check[0] for check in self._checks]}")
            if value.__class__ is not np.ndarray:
                value = _as_array(value, name)
            if dtype is not None and value.dtype != dtype:
                raise TypeError(f"input {name!r} has dtype {value.dtype}; expected {dtype} "
                                f"(convert it with .astype(np.{dtype}))")
            if rank is not None:
                if value.ndim != rank:
                    raise ValueError(f"input {name!r} has shape {value.shape}; expected {rank} dimensions "
                                     f"{self._shape_text(name)}")
                for axis, dim in fixed:
                    if value.shape[axis] != dim:
                        raise ValueError(f"input {name!r} has shape {value.shape}; expected "
                                         f"{self._shape_text(name)} (axis {axis} must be {dim})")
            fed.append(value)
        if len(input_feed) != len(self._checks):
            unknown = sorted(map(str, set(input_feed) - self._input_names))
            raise ValueError(f"input_feed has unknown input(s) {unknown}; the model's inputs are "
                             f"{[check[0] for check in self._checks]}")
        return fed

    def _shape_text(self, name):
        arg = next(a for a in self._inputs if a.name == name)
        return "(" + ", ".join("?" if d is None else str(d) for d in arg.shape) + ")"

    def _picks(self, output_names):
        """The positions of output_names among the graph outputs."""
        if isinstance(output_names, str):
            raise TypeError("output_names must be a list of names or None; got a string")
        try:
            return [self._output_index[name] for name in output_names]
        except KeyError as exc:
            raise ValueError(f"output_names: {exc.args[0]!r} is not an output of the model; its outputs are "
                             f"{list(self._output_index)}") from None
        except TypeError:
            raise TypeError(f"output_names must be a list of names or None; got {output_names!r}") from None


class InferenceStream:
    """session.stream(): the session's run() with recurrent states carried across calls (see
    InferenceSession.stream). Streams are independent of each other and of their session; one stream serves
    one sequence at a time (use one stream per thread)."""

    def __init__(self, session: InferenceSession) -> None:
        plan = session._plan
        self._session = session
        self._carry = {}
        carrying = {k: functools.partial(fn, carry=self._carry) for k, (fn, _, _, _) in enumerate(plan.steps)
                    if getattr(fn, "carries", False)}
        self._execute, self._nodes = compile_steps(plan.steps, plan.input_slots, plan.output_slots, plan.initial,
                                                   carrying, plan.static)

    def run(self, output_names: Optional[Sequence[str]], input_feed: Dict[str, Any],
            run_options: Any = None) -> List[np.ndarray]:
        """As InferenceSession.run, starting each carried recurrent node from the previous call's states."""
        return self._session._run(self._execute, self._nodes, output_names, input_feed)

    def reset(self) -> None:
        """Forget the carried states: the next call starts from the graph's own initial states."""
        self._carry.clear()

    def get_inputs(self) -> List[NodeArg]:
        return self._session.get_inputs()

    def get_outputs(self) -> List[NodeArg]:
        return self._session.get_outputs()


def _as_array(value, name):
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"input {name!r} must be a NumPy array; got {type(value).__name__}")
    try:
        return np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - ragged lists and the like
        raise TypeError(f"input {name!r} must be a NumPy array; got {type(value).__name__}: {exc}") from None


def _owned(value, fed):
    """An output the caller may keep and write: contiguous, and a copy when it is read-only (a constant of the
    model, or a view of one) or shares memory with an input."""
    if value.__class__ is np.ndarray and value.base is None and value.flags.writeable and value.flags.c_contiguous:
        return value   # a fresh array of the step that made it (views and constants have a base / are read-only)
    value = np.asarray(value)
    if not value.flags.writeable or any(np.may_share_memory(value, x) for x in fed):
        return np.array(value, copy=True, order="C")
    return value if value.flags.c_contiguous else np.array(value, order="C")
