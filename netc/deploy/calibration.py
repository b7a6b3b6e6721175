"""Calibration inputs for int8 quantization: drawn like `netc check`'s, or read from a directory.

Inputs are described by the ONNX model's graph inputs, so any layout and rank works: a ``N`` batch
dimension becomes 1, other symbolic dimensions (a spec's ``?`` size) become ``dynamic_size``.
The spec's input convention is raw pixel values in [0, 255]: its input op (``norm1``, ``norm05``)
is part of the model, so calibration data must be fed unnormalised, exactly as users feed the model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from netc import progress
from netc.diagnostics import NetcError
from netc.samples import DYNAMIC_SIZE, draw   # inputs declared with `?` are drawn at `netc check`'s size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass(frozen=True)
class InputInfo:
    name: str
    shape: tuple[int, ...]      # batch 1, dynamic sizes resolved
    layout: str                 # "nchw", "nhwc" (rank-4 image inputs) or "other"

    @property
    def hwc(self) -> tuple[int, int, int]:
        s = self.shape
        return (s[2], s[3], s[1]) if self.layout == "nchw" else (s[1], s[2], s[3])


def input_infos(proto, layout: str = "nchw", dynamic_size: int = DYNAMIC_SIZE) -> list[InputInfo]:
    """The model's graph inputs (those that are not initializers), with concrete batch-1 shapes."""
    inits = {i.name for i in proto.graph.initializer}
    out = []
    for v in proto.graph.input:
        if v.name in inits:
            continue
        dims = v.type.tensor_type.shape.dim
        shape = tuple(1 if i == 0 and not d.dim_value else (d.dim_value or dynamic_size) for i, d in enumerate(dims))
        out.append(InputInfo(v.name, shape, layout if len(shape) == 4 else "other"))
    return out


def synthetic(infos: list[InputInfo], count: int, seed: int) -> list[dict[str, np.ndarray]]:
    """``count`` feeds drawn as `netc check`'s "uniform 0-255" case is (netc/samples.py, their own stream):
    raw pixels, NHWC, put in each input's layout."""
    shapes = {i.name: i.hwc if i.layout != "other" else i.shape[1:] for i in infos}
    layouts = {i.name: i.layout for i in infos}
    feeds = [draw(shapes, seed, purpose="int8 calibration", index=k) for k in range(count)]
    return [{n: x.transpose(0, 3, 1, 2) if layouts[n] == "nchw" else x for n, x in f.items()} for f in feeds]


def _load_image(path: str, info: InputInfo) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise NetcError(f"reading the image `{path}` needs Pillow: `pip install 'netc[deploy]'` "
                        f"(or convert the images to .npy)") from None
    h, w, c = info.hwc
    if c not in (1, 3):
        raise NetcError(f"input `{info.name}` has {c} channels: give .npy files, images have 1 or 3")
    try:
        with Image.open(path) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
            x = np.asarray(im, dtype=np.float32).reshape(h, w, c)
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many kinds (OSError, SyntaxError, bombs)
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise NetcError(f"cannot read the image `{path}`: the file is empty (0 bytes)") from None
        raise NetcError(f"cannot read the image `{path}`: {type(err).__name__}: {err}") from None
    return x.transpose(2, 0, 1)[None] if info.layout == "nchw" else x[None]


def _damaged(path: str, what: str, err: BaseException) -> NetcError:
    """A calibration file numpy cannot read: empty, truncated, pickled, or not of that kind at all."""
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        return NetcError(f"cannot read `{path}` as {what}: the file is empty (0 bytes)")
    magic = {"a .npy array": (b"\x93NUMPY", "no .npy header"), "a .npz archive": (b"PK", "no zip header")}[what]
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(magic[0]))
    except OSError as oserr:
        return NetcError(f"cannot read `{path}`: {oserr.strerror or oserr}")
    if what == "a .npz archive" and head.startswith(b"\x93N"):
        return NetcError(f"`{path}` is a .npy array, not a .npz archive (rename it to .npy)")
    if not head.startswith(magic[0]):
        return NetcError(f"cannot read `{path}` as {what}: it is not one ({magic[1]})")
    reason = str(err) or type(err).__name__
    return NetcError(f"cannot read `{path}` as {what}: the file is damaged ({reason})")


def _numbers(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as float32, or a NetcError when its elements are not real numbers (strings, complex, objects)."""
    if x.dtype.kind not in "biuf":
        raise NetcError(f"{what} holds {x.dtype} elements ({x.dtype.name}); calibration inputs are real numbers "
                        f"(pixel values in [0, 255], any integer or float dtype)")
    return np.asarray(x, dtype=np.float32)


def _load_npy(path: str, info: InputInfo) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise _damaged(path, "a .npy array", err) from None
    if not isinstance(x, np.ndarray):
        raise NetcError(f"`{path}` is not a .npy array")
    return _check_array(_numbers(x, f"`{path}`"), f"`{path}`", info)


def _check_array(x: np.ndarray, what: str, info: InputInfo) -> np.ndarray:
    """``x`` with a batch axis, or a NetcError when its shape does not fit ``info``."""
    if x.ndim == len(info.shape) - 1:
        x = x[None]
    if x.ndim != len(info.shape) or any(a != b for a, b in zip(x.shape[1:], info.shape[1:])):
        raise NetcError(f"{what} has shape {tuple(x.shape)}; input `{info.name}` takes "
                        f"{('N',) + info.shape[1:]} ({info.layout.upper() if info.layout != 'other' else 'as is'})")
    return x


def _load_npz(path: str, infos: list[InputInfo]) -> dict[str, np.ndarray]:
    """One .npz: an array per input, named as the input; all with the same number of samples."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001 - zipfile, zlib and numpy each raise their own kinds for a damaged archive
        raise _damaged(path, "a .npz archive", err) from None
    names = [i.name for i in infos]
    if sorted(arrays) != sorted(names):
        raise NetcError(f"`{path}` holds {', '.join(sorted(arrays)) or 'no arrays'}; the model's inputs are "
                        f"{', '.join(names)} (one array per input, named as the input)")
    out = {}
    for info in infos:
        what = f"`{path}` [{info.name}]"
        out[info.name] = _check_array(_numbers(arrays[info.name], what), what, info)
    counts = {x.shape[0] for x in out.values()}
    if len(counts) != 1:
        raise NetcError(f"`{path}`: its arrays hold different numbers of samples ({sorted(counts)})")
    return out


def require_directory(directory: str) -> None:
    """A NetcError unless ``directory`` is one (checked before compiling, and again when it is read)."""
    if not os.path.isdir(directory):
        raise NetcError(f"`{directory}` is not a directory (--calibration-data takes a directory of "
                        f".npy, .npz or image files)")


def from_directory(directory: str, infos: list[InputInfo], limit: int | None = None) -> list[dict[str, np.ndarray]]:
    """Feeds from the files of ``directory`` (sorted by name; ``limit`` of them when given).

    Each file is one sample or a batch of them. A ``.npz`` holds one array per model input, named as the
    input (models with several inputs take only these). For a one-input model, ``.npy`` arrays and images
    serve too: images are converted to RGB (grey for 1-channel inputs), resized bilinearly to the input's
    height and width, kept as raw pixel values in [0, 255] and put in the model's layout; arrays are taken
    as they are, in the model's layout, with or without the batch axis.
    """
    require_directory(directory)
    single = len(infos) == 1
    kinds = (".npz", ".npy") + IMAGE_SUFFIXES if single else (".npz",)
    files = sorted(f for f in os.listdir(directory) if f.lower().endswith(kinds))
    if limit:
        files = files[:limit]
    if not files:
        what = ".npz, .npy or image files" if single else \
            f".npz files (this model has {len(infos)} inputs: {', '.join(i.name for i in infos)})"
        raise NetcError(f"`{directory}` holds no {what}")
    feeds = []
    for f in files:
        path = os.path.join(directory, f)
        if f.lower().endswith(".npz"):
            arrays = _load_npz(path, infos)
        else:
            info = infos[0]
            arrays = {info.name: _load_npy(path, info) if f.lower().endswith(".npy") else _load_image(path, info)}
        n = next(iter(arrays.values())).shape[0]
        feeds.extend({k: x[i:i + 1] for k, x in arrays.items()} for i in range(n))
    return feeds


def reader(feeds: list[dict[str, np.ndarray]]):
    """An onnxruntime.quantization CalibrationDataReader over ``feeds``, with the ``len`` and ``set_range``
    that onnxruntime's strided calibration (``CalibStridedMinMax``) uses to take the feeds a few at a time."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self._range = (0, len(feeds))
            self._pos = 0   # feeds read so far, counted from the first (the progress line's N)
            self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def __len__(self) -> int:
            return len(feeds)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._range = (start_index, end_index)
            self.rewind()

        def get_next(self) -> dict[str, np.ndarray] | None:
            feed = next(self._it, None)
            if feed is not None:
                self._pos += 1
                progress.step("int8 calibration: input", self._pos, len(feeds))
            return feed

        def rewind(self) -> None:
            self._it = iter(feeds[self._range[0]:self._range[1]])
            self._pos = self._range[0]

    return _Feeds()
