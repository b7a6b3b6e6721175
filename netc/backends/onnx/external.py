"""ONNX external data: initializers streamed into ``<model>.data`` while the model is made."""
from __future__ import annotations

from typing import Any

import numpy as np

from netc.backends.onnx.wire import Initializer
from netc.ir.weights import WeightValues


#: Protobuf cannot parse a message of 2 GiB or more: above this many bytes of weights, external data.
EXTERNAL_AUTO_BYTES = 2**31 - 2**26   # 2 GiB less 64 MiB for the graph itself


class ExternalData:
    """ONNX external data written as the backend makes it: each initializer of ``threshold`` bytes or more is
    appended to one data file (at an offset aligned to ``ALIGN`` bytes, so onnxruntime can map it from the
    file instead of copying it), and its TensorProto gets ``data_location = EXTERNAL`` with location, offset
    and length instead of ``raw_data``. A strided array (a transposed kernel) is written in slabs, so the
    file is written without a whole second copy of any tensor in memory."""

    ALIGN = 4096
    SLAB_BYTES = 16 * 2**20

    def __init__(self, f: Any, location: str, threshold: int = 1024):
        self.f, self.location, self.threshold, self.offset = f, location, threshold, 0

    def add(self, t: Initializer, arr: np.ndarray) -> bool:
        """Write ``arr`` (float32, any strides) for ``t``; False (nothing done) when it is too small."""
        if arr.nbytes < self.threshold:
            return False
        pad = -self.offset % self.ALIGN
        if pad:
            self.f.write(b"\0" * pad)
        start = self.offset + pad
        if arr.flags.c_contiguous:
            self.f.write(memoryview(arr).cast("B"))
        else:   # each slab copied in its source's memory order first (reads runs, not single floats)
            rows = max(1, self.SLAB_BYTES // max(1, arr[0].nbytes))
            for i in range(0, arr.shape[0], rows):
                slab = np.ascontiguousarray(np.array(arr[i:i + rows], order="K"))
                self.f.write(memoryview(slab).cast("B"))
        self.offset = start + arr.nbytes
        t.external = [("location", self.location), ("offset", str(start)), ("length", str(arr.nbytes))]
        return True


def needs_external_data(weights: WeightValues) -> bool:
    """Whether a model of these weights passes protobuf's 2 GiB limit (:data:`EXTERNAL_AUTO_BYTES`)."""
    return 4 * sum(int(np.asarray(a).size) for a in weights.values()) > EXTERNAL_AUTO_BYTES   # float32 as written
