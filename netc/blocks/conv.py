"""Plain convolution blocks: `cn` (ConvBnAct) and `hd` (head)."""
from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


@REGISTRY.block
class ConvBnAct(BlockType):
    """Conv2D k x k (or `k1x7`), stride s, groups g, SAME (`padvalid`: VALID; or zero padding `p` on every side,
    then VALID); bias without `bn` or with `bias`, never with `nobias`; BN (epsilon 1e-3, momentum 0.999 unless
    `eps`/`mom`; `noscale`: no gamma); activation if `n`."""

    code = "cn"
    doc = "convolution (+ batch norm) (+ activation)"
    params = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=1),
              "c": Param(required=True), "g": Param(default=1), "p": Param(), "pad": Param(default="same"),
              "bn": Param(default=False), "bias": Param(default=False), "nobias": Param(default=False),
              "noscale": Param(default=False), "eps": Param(default=1e-3, below=1.0),
              "mom": Param(default=0.999, below=1.0), "n": Param(), "fixc": Param(default=False)}

    def warnings(self, a: Args) -> list:
        return conv_warnings(a)

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return conv_bn_act(b, a, x, lambda y, padding, bias: b.conv(y, a.c, a.k, a.s, padding, groups=a.g,
                                                                     bias=bias, name="conv"))


def conv_warnings(a: Args) -> list[tuple[str, object]]:
    """`bias` with `nobias`, `noscale` without `bn`: said, not fatal (`nobias` wins; `noscale` is ignored)."""
    out = []
    if a.bias and a.nobias:
        out.append(("`nobias` overrides `bias`: the convolution has no bias", a.block.span))
    if a.noscale and not a.bn:
        out.append(("`noscale` describes a batch norm and is ignored without `bn`", a.block.span))
    return out


def conv_bn_act(b: Builder, a: Args, x: Value, conv) -> Value:
    """What `cn`, `dw` and `sep` share: padding (`p`, `pad`), the bias rule, BN (`noscale`), activation."""
    y, padding = x, a.pad
    if a.p is not None:
        y, padding = b.pad(x, (a.p,) * 4, name="pad"), "valid"
    y = conv(y, padding, (a.bias or not a.bn) and not a.nobias)
    if a.bn:
        y = b.batchnorm(y, "bn", epsilon=a.eps, momentum=a.mom, scale=not a.noscale)
    if a.n is not None:
        y = a.n.lower(b, y, "act")
    return y


@REGISTRY.block
class Head(BlockType):
    """Plain Conv2D k x k, stride s, VALID, no bias, no activation; kernel directly under the block."""

    code = "hd"
    doc = "head convolution (VALID, no bias)"
    params = {"r": Param(default=1), "k": Param(required=True), "s": Param(default=1),
              "c": Param(required=True)}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        return b.conv(x, a.c, a.k, a.s, "valid", bias=False, name="")
