"""Zero padding and cropping on their own: `zpad`, `crop` (Keras ZeroPadding2D, Cropping2D), each side by `p`
(all four), or `pt`, `pb`, `pl`, `pr` (top, bottom, left, right; absent sides 0): `zpad_pb1_pr1` is NASNet's and
MobileNet's ((0, 1), (0, 1))."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


def _sides(b: Builder, a: Args, what: str) -> tuple[int, int, int, int]:
    """(top, left, bottom, right)."""
    one = [a.pt, a.pl, a.pb, a.pr]
    if a.p is not None and any(v is not None for v in one):
        raise b.error(f"{what}: give `p` (every side) or `pt`/`pb`/`pl`/`pr`, not both")
    if a.p is not None:
        return (a.p,) * 4
    if all(v is None for v in one):
        raise b.error(f"{what} needs a size: `p1`, or sides like `pb1_pr1`")
    return tuple(v or 0 for v in one)


_PARAMS = {"p": Param(), "pt": Param(), "pb": Param(), "pl": Param(), "pr": Param()}


@REGISTRY.block
class ZeroPad(BlockType):
    """Zero padding of H and W."""

    code = "zpad"
    doc = "zero padding (ZeroPadding2D)"
    params = dict(_PARAMS)
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.pad(x, _sides(b, a, "zpad"), name="pad")


@REGISTRY.block
class Crop(BlockType):
    """Cropping of H and W."""

    code = "crop"
    doc = "cropping (Cropping2D)"
    params = dict(_PARAMS)
    stride_arg = None
    scales_width = False

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.crop(x, _sides(b, a, "crop"), name="crop")
