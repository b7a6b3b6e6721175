"""Zero padding and cropping on their own: `zpad`, `crop` (Keras ZeroPadding2D, Cropping2D), each side by `p`
(all four), or `top`, `bot`, `left`, `right` (absent sides 0): `zpad_bot1_right1` is NASNet's and
MobileNet's ((0, 1), (0, 1)). With no size, `zpad` pads 1 and `crop` crops nothing, as Keras' defaults."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


def _sides(b: Builder, a: Args, what: str) -> tuple[int, int, int, int]:
    """(top, left, bottom, right)."""
    one = [a.top, a.left, a.bot, a.right]
    if a.p is not None and any(v is not None for v in one):
        raise b.error(f"{what}: give `p` (every side) or `top`/`bot`/`left`/`right`, not both")
    if a.p is not None:
        return (a.p,) * 4
    if all(v is None for v in one):   # Keras' defaults: ZeroPadding2D pads 1, Cropping2D crops nothing
        return (1, 1, 1, 1) if what == "zpad" else (0, 0, 0, 0)
    return tuple(v or 0 for v in one)


_PARAMS = {"p": Param(), "top": Param(), "bot": Param(), "left": Param(), "right": Param()}


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
