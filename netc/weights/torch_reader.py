"""Read a PyTorch checkpoint: a state_dict (``torch.save(model.state_dict())``: .pth / .pt), a whole pickled
module, or a ``.safetensors`` file, as its modules' arrays in the file's order.

A ``.pth`` is read with ``torch.load(weights_only=True)``. A whole pickled module (``torch.save(model)``) is
refused by that loader (its classes are not tensors); netc then reads the pickle with an unpickler that
rebuilds only what torch's weights-only loader allows (tensors, storages, ordered dicts) and replaces every
other class by an inert record of its attributes: no code named by the file is imported or called. A
``.safetensors`` needs no torch: the ``safetensors`` package's numpy API where it is installed, else netc's own
reader of its format (an 8-byte length, a JSON header, the raw arrays).

The order of a state_dict is the modules' registration order (each module's parameters, then its buffers, then
its children); a ``.safetensors`` keeps no order (its writer sorts the keys by dtype and name).
"""
from __future__ import annotations

import json
import os
import pickle
import struct
from dataclasses import dataclass

import numpy as np

from netc.diagnostics import NetcError
from netc.weights.source import reason

SUFFIXES = (".pth", ".pt", ".safetensors")


@dataclass
class TorchCheckpoint:
    """A checkpoint's arrays: ``tensors`` maps ``module.path.param`` to an array, in the file's order."""

    path: str
    kind: str                        # "PyTorch state_dict", "pickled PyTorch module", "safetensors file"
    tensors: dict[str, np.ndarray]
    ordered: bool                    # the file's order is the modules' registration order
    notes: list[str]


def is_torch_file(path: str) -> bool:
    """A ``.pth`` / ``.pt`` / ``.safetensors`` file by its name, or a zip holding a pickle (``*/data.pkl``)."""
    p = os.fspath(path)
    if p.lower().endswith(SUFFIXES):
        return True
    import zipfile
    try:
        with zipfile.ZipFile(p) as z:
            return any(n.endswith("/data.pkl") for n in z.namelist()[:64])
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def read_torch(path: str) -> TorchCheckpoint:
    """The checkpoint at ``path`` (a NetcError naming the file when it cannot be read as one)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise NetcError(f"no PyTorch checkpoint at `{p}`")
    if p.lower().endswith(".safetensors"):
        return TorchCheckpoint(p, "safetensors file", read_safetensors(p), False, [])
    try:
        import torch
    except ImportError:
        raise NetcError(f"reading `{p}` needs PyTorch (pip install 'netc[torch]'); a .safetensors file needs "
                        f"nothing") from None
    notes: list[str] = []
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
        kind = "PyTorch state_dict"
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):
            raise NetcError(f"cannot read `{p}` as a PyTorch checkpoint: {reason(err)}") from None
        obj, kind = _load_inert(torch, p), "pickled PyTorch module"
    except Exception as err:   # noqa: BLE001 - torch.load raises many types for a damaged file
        raise NetcError(f"cannot read `{p}` as a PyTorch checkpoint: {reason(err)}") from None
    sd, where = _state_dict(obj, p)
    if where:
        notes.append(f"`{p}`: the weights are its `{where}` entry")
    return TorchCheckpoint(p, kind, {k: _array(v) for k, v in sd.items()}, True, notes)


# ------------------------------------------------------------------ a pickled module, read inertly
class _Inert:
    """What a class the weights-only loader does not allow becomes: a record of the attributes pickled."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:      # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __call__(self, *args, **kwargs):
        return _Inert(*args)


def _load_inert(torch, path: str):
    allowed: dict = {}
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = dict(_get_allowed_globals())
    except Exception:   # noqa: BLE001 - a private API: without it only the classes below are real
        pass

    import collections
    allowed.update({"builtins.set": set, "builtins.frozenset": frozenset, "builtins.dict": dict,
                    "builtins.list": list, "builtins.tuple": tuple, "collections.OrderedDict": collections.OrderedDict})

    class InertUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)   # protocol 2
            real = allowed.get(f"{module}.{name}")
            if real is not None and not isinstance(real, str):
                return real
            return type(name, (_Inert,), {"__module__": "netc.inert." + module})

    class Module:   # the pickle_module torch.load takes
        Unpickler = InertUnpickler
        load = staticmethod(pickle.load)

    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=Module)
    except Exception as err:   # noqa: BLE001
        raise NetcError(f"cannot read `{path}` as a PyTorch checkpoint: {reason(err)}") from None


def _module_state(mod, prefix: str, out: dict) -> None:
    """An inert nn.Module's state_dict: its parameters, its persistent buffers, then its children, in order."""
    d = mod.__dict__
    skip = d.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for k, v in (d.get(group) or {}).items():
            if v is not None and not (group == "_buffers" and k in skip):
                out[prefix + k] = v
    for k, child in (d.get("_modules") or {}).items():
        if child is not None:
            _module_state(child, f"{prefix}{k}.", out)


def _is_tensor(v) -> bool:
    return hasattr(v, "detach") and hasattr(v, "shape") or isinstance(v, np.ndarray)


def _state_dict(obj, path: str) -> tuple[dict, str]:
    """The name -> tensor dict in ``obj``: a state_dict, a module, or the one such dict in a training
    checkpoint's dict (``{"model": ..., "optimizer": ...}``); and the key it was found under."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, dict):
        return obj.state_dict(), ""
    if isinstance(obj, _Inert) and "_modules" in obj.__dict__:
        out: dict = {}
        _module_state(obj, "", out)
        return out, ""
    if isinstance(obj, dict):
        if obj and all(isinstance(k, str) and _is_tensor(v) for k, v in obj.items()):
            return obj, ""
        inner = [(k, v) for k, v in obj.items() if isinstance(k, str)
                 and (isinstance(v, dict) and v and all(_is_tensor(x) for x in v.values())
                      or isinstance(v, _Inert) and "_modules" in v.__dict__)]
        if len(inner) == 1:
            sd, _ = _state_dict(inner[0][1], path)
            return sd, inner[0][0]
        if inner:
            raise NetcError(f"`{path}` holds several sets of weights ({', '.join(k for k, _ in inner)}): save "
                            f"the model's state_dict alone")
    raise NetcError(f"`{path}` holds no PyTorch weights netc can read: a {type(obj).__name__}, not a state_dict, "
                    f"a module, or a dict holding one")


def _array(v) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    t = v.detach().cpu()
    if str(t.dtype) in ("torch.float16", "torch.bfloat16"):
        t = t.float()
    return t.numpy()


# ------------------------------------------------------------------ safetensors
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U8": "u1", "BOOL": "?"}


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """A .safetensors file's arrays (bfloat16 widened to float32)."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        return _parse_safetensors(path)
    try:
        return dict(load_file(path))
    except Exception as err:   # noqa: BLE001 - the library's own error types
        if "bf16" in str(err).lower() or "bfloat16" in str(err).lower():
            return _parse_safetensors(path)
        raise NetcError(f"cannot read `{path}` as a safetensors file: {reason(err)}") from None


def _parse_safetensors(path: str) -> dict[str, np.ndarray]:
    """The format read by netc itself: u64 little-endian header length, a JSON header (name -> dtype, shape,
    data_offsets; optional ``__metadata__``), then the data."""
    def bad(why: str) -> NetcError:
        return NetcError(f"`{path}` is not a valid safetensors file: {why}")
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise bad("shorter than its 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 << 20):
            raise bad(f"its header length {n} exceeds the file")
        try:
            header = json.loads(fh.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise bad(f"its header is not JSON ({reason(err)})") from None
        data = np.fromfile(fh, dtype=np.uint8)
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], [int(d) for d in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise bad(f"entry `{name}` lacks dtype, shape or data_offsets") from None
        if dtype == "BF16":
            raw = data[start:end].view("<u2").astype(np.uint32) << 16
            arr = raw.view(np.float32)
        elif dtype in _DTYPES:
            arr = data[start:end].view(_DTYPES[dtype])
        else:
            raise bad(f"entry `{name}` has dtype {dtype}, which netc does not read")
        if not 0 <= start <= end <= data.size or arr.size != int(np.prod(shape, dtype=np.int64)):
            raise bad(f"entry `{name}`'s data_offsets do not hold a {dtype} array of shape {tuple(shape)}")
        out[name] = arr.reshape(shape)
    return out
