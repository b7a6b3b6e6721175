"""netc's own weights file: a ``.npz`` with one float32 array per weight, no TensorFlow needed.

Keys are the IR weight names (``backbone/c3/se/squeeze/kernel``), arrays are in the checkpoint
layout (``Weight.ext_shape``). Files are written atomically and byte-for-byte reproducibly.
"""
from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from netc.diagnostics import NetcError
from netc.ir.graph import Graph
from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel
from netc.weights.bind import Source, bind

_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_npz(graph: Graph, weights: WeightValues, path: str | os.PathLike) -> None:
    """Write ``weights`` (IR layout) as a netc .npz: ext_shape layout, float32, in graph order."""
    from netc.atomic import atomic_file
    with atomic_file(path, suffix=".npz.tmp") as (_, fh), zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        for w in graph.weights:
            arr = np.ascontiguousarray(weights[w.name], dtype=np.float32).reshape(w.ext_shape)
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(w.name + ".npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def read_npz(path: str | os.PathLike) -> Source:
    """The arrays of a .npz file (read eagerly; no pickles)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NetcError(f"no .npz file at `{path}`" if not os.path.isdir(path)
                        else f"`{path}` is a directory, not a .npz file")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                arrays[key] = _member(npz, key, path)
    except NetcError:
        raise
    except Exception as err:  # noqa: BLE001 - zipfile/numpy raise many types for a damaged file
        raise NetcError(f"cannot read .npz file `{path}`: {_reason(err)} (is it truncated or damaged?)") from None
    return Source(path, ".npz file", {k: tuple(a.shape) for k, a in arrays.items()}, arrays.__getitem__)


def _member(npz, key: str, path: str) -> np.ndarray:
    try:
        return npz[key]
    except Exception as err:  # noqa: BLE001
        raise NetcError(f"cannot read array `{key}` of .npz file `{path}`: {_reason(err)} "
                        f"(is it truncated or damaged?)") from None


def load_npz(checked: CheckedModel, path: str | os.PathLike) -> WeightValues:
    """Values for every weight of ``checked`` from a netc .npz (float32, IR layout)."""
    return bind(checked, read_npz(path))


def _reason(err: Exception) -> str:
    return (str(err) or type(err).__name__).strip().splitlines()[0]
