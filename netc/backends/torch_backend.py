"""Writing, loading and checking the PyTorch artifacts: ``model.py`` + ``model.safetensors``, and ``.pt2``.

``model.py`` is :mod:`netc.backends.torch_code`'s source; its weights go beside it as safetensors (written
here with numpy: tensors in name order, a compact JSON header, so the same model gives the same bytes).
A ``.pt2`` file is that module in eval mode traced by ``torch.export`` (batch dynamic, and height and width
where the spec leaves them open), saved with ``torch.export.save``: ``torch.export.load`` alone runs it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import types
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

import numpy as np

from netc.diagnostics import NetcError

if TYPE_CHECKING:  # pragma: no cover
    from netc.backends import Backend
    from netc.backends.routes import CheckContext, Route
    from netc.backends.torch_state import TorchSource

DYNAMIC_EXAMPLE = 224   # example height and width for torch.export where the spec has `?`
_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.float16): "F16",
           np.dtype(np.int64): "I64"}


# ----------------------------------------------------------------------------- safetensors
def write_safetensors(fh: BinaryIO, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write the safetensors serialisation of ``tensors`` to ``fh``: 8-byte little-endian header size, a JSON
    header (names in sorted order, padded with spaces to 8 bytes), then each tensor's little-endian bytes in
    that order, each written from the array's own memory where it is C-ordered and little-endian already."""
    header: dict[str, Any] = {"__metadata__": dict(sorted((metadata or {"format": "pt"}).items()))}
    arrays, offset = [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if arr.dtype not in _DTYPES:
            raise ValueError(f"safetensors: no dtype code for {arr.dtype} ({name})")
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        arrays.append(arr)
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    fh.write(len(text).to_bytes(8, "little") + text)
    for arr in arrays:
        if arr.nbytes:
            fh.write(memoryview(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))).cast("B"))


def weights_path(path: str) -> str:
    """``model.safetensors`` beside ``model.py``."""
    return os.path.splitext(path)[0] + ".safetensors"


def check_torch_target(path: str) -> str:
    """A ``.py`` output's weights file must be writable too."""
    if path.lower().endswith(".py"):
        from netc.atomic import check_target
        check_target(weights_path(path))
    return path


def save_torch(src: "TorchSource", path: str, *, exported: bool = False) -> None:
    """Write ``model.py`` and ``model.safetensors`` (or, ``exported``, the ``.pt2`` program) atomically;
    the weights file goes first, so an existing pair is replaced only once both are complete."""
    from netc.atomic import atomic_file
    import netc
    if exported:
        import io

        import torch
        buf = io.BytesIO()   # not the temporary file: the archive would be named after it (bytes would differ)
        torch.export.save(export_program(src), buf)
        with atomic_file(path, suffix=".pt2.tmp") as (_, fh):
            fh.write(buf.getbuffer())
        return
    meta = {"format": "pt", "producer": f"netc {netc.__version__}", "class": src.class_name}
    with atomic_file(weights_path(path), suffix=".safetensors.tmp") as (_, fh):
        write_safetensors(fh, src.state, meta)
    with atomic_file(path, suffix=".py.tmp") as (_, fh):
        fh.write(src.code.encode())


# ----------------------------------------------------------------------------- loading
def load_module(src: "TorchSource", *, state: bool = True) -> Any:
    """The ``nn.Module`` of ``src`` (netc's own generated code, compiled under a file name of its own so
    tracebacks show its lines), with its weights loaded."""
    import linecache

    import torch
    name = f"netc_torch_{src.class_name}"   # no address: torch.export records it (the .pt2 bytes)
    filename = f"<netc: {src.class_name}.py>"
    module = types.ModuleType(name)
    module.__file__ = filename
    linecache.cache[filename] = (len(src.code), None, src.code.splitlines(True), filename)
    exec(compile(src.code, filename, "exec"), module.__dict__)   # noqa: S102 - netc's generated code, no spec text
    model = getattr(module, src.class_name)()
    if state:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in src.state.items()})
    return model


def import_file(path: str) -> types.ModuleType:
    """Import a written ``model.py`` as users do (its own ``build()`` then loads the safetensors beside it)."""
    name = f"netc_written_{abs(hash(os.path.abspath(path))):x}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def example_inputs(src: "TorchSource", batch: int = 2) -> tuple[Any, ...]:
    import torch
    return tuple(torch.zeros((batch, *(DYNAMIC_EXAMPLE if d is None else d for d in shape[1:])))
                 for _, shape in src.inputs)


@contextlib.contextmanager
def _triton_hidden_beside_tensorflow() -> Iterator[None]:
    """torch.export looks for Triton, whose import crashed the process (SIGSEGV in triton/knobs.py) where
    TensorFlow 2.21 was loaded first, as in `netc check`: with TensorFlow loaded, Triton is reported missing
    while exporting (a CPU trace does not need it; torch caches the answer for the process)."""
    hide = "tensorflow" in sys.modules and "triton" not in sys.modules
    if hide:
        sys.modules["triton"] = None   # `import triton` raises ImportError
    try:
        yield
    finally:
        if hide and sys.modules.get("triton", 0) is None:
            del sys.modules["triton"]


def export_program(src: "TorchSource") -> Any:
    """``torch.export`` of the module in eval mode; batch (and open spatial sizes) dynamic."""
    import torch
    from torch.export import Dim
    model = load_module(src).eval()
    dynamic = {arg: {i: Dim.AUTO for i, d in enumerate(shape) if d is None} for arg, shape in src.inputs}
    try:
        with torch.no_grad(), _triton_hidden_beside_tensorflow():
            return torch.export.export(model, example_inputs(src), dynamic_shapes=dynamic)
    except Exception as err:   # torch.export's own limits, reported with the module's name
        raise NetcError(f"torch.export could not trace `{src.class_name}`: {type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''}") from None


# ----------------------------------------------------------------------------- check
def torch_runner(model: Any, nchw: bool, device: str = "cpu") -> Any:
    """Run ``model`` (eval mode, no grad) on NHWC feeds; returns NHWC outputs by the graph's output names."""
    import torch

    model = model.to(device)

    def run(feeds: dict[str, np.ndarray], out_names: list[str]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if nchw and x.ndim == 4 else x))
                .to(device) for x in feeds.values()]
        with torch.no_grad():
            outs = model(*args)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        res = [o.detach().cpu().numpy() for o in outs]
        return {n: (o.transpose(0, 2, 3, 1) if nchw and o.ndim == 4 else o) for n, o in zip(out_names, res)}
    return run


def _no_tf32() -> None:
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False   # TF32 rounds float32 matmuls and convolutions to 10 bits
    torch.backends.cudnn.allow_tf32 = False


def torch_routes(backend: "Backend", ctx: "CheckContext") -> list["Route"]:
    """The written ``model.py`` imported and run on the CPU (and CUDA with ``--provider cuda`` where torch
    sees a GPU), in each form (netc.backends.routes.forms); with ``--all`` the ``.pt2`` program of the form
    asked for, loaded by ``torch.export.load``."""
    import torch

    from netc.backends.routes import Route, forms
    tag = "torch deployed" if ctx.deploy else "torch"   # the .export column: the form asked for
    out_names = ctx.out_names

    def wrap(run: Any) -> Any:
        return lambda feeds: run(feeds, out_names)

    if backend.name == "torch-export":
        if not ctx.all_routes:
            return []

        def make_export() -> tuple[Any, list[str]]:
            path = os.path.join(ctx.tmp, "model.pt2")
            save_torch(ctx.artifact("torch", deploy=ctx.deploy), path, exported=True)
            program = torch.export.load(path)
            return wrap(torch_runner(program.module(), nchw=True)), ["cpu"]
        return [Route(f"{tag}.export (cpu)", make_export)]

    def make(device: str, deploy: bool) -> Any:
        def made() -> tuple[Any, list[str]]:
            path = os.path.join(ctx.tmp, "model_deployed.py" if deploy else "model.py")
            if not os.path.exists(path):
                save_torch(ctx.artifact("torch", deploy=deploy), path)
            if device == "cuda":
                _no_tf32()
            model = import_file(path).build().eval()
            return wrap(torch_runner(model, nchw=True, device=device)), [device]
        return made

    routes = []
    cuda = ctx.provider == "cuda" and torch.cuda.is_available()
    if ctx.provider == "cuda" and not cuda:
        ctx.notes.append(f"torch: no CUDA column, torch {torch.__version__} sees no CUDA device")
    for deploy, word in forms(ctx):   # the training form, and with --deploy the deployed form too
        routes.append(Route(f"torch{word} (cpu)", make("cpu", deploy)))
        if cuda:
            routes.append(Route(f"torch{word} (cuda)", make("cuda", deploy),
                                versus=(f"torch{word} cuda vs cpu", f"torch{word} (cpu)")))
    return routes
