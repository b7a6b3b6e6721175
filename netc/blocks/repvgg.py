"""`rv`: the RepVGG block in its training form (seed 004); `netc ... --deploy` fuses it into one 3x3 conv.

Branches, summed by ONE n-ary add, then the activation (ReLU unless `n`):
- identity BN of the input, only when in == out channels and s == 1;
- 3x3 conv (SAME, stride s, groups g, no bias) + BN;
- 1x1 conv (stride s, groups g, no bias) + BN: SAME in identity blocks, VALID otherwise, as the seed writes
  it (the same pixels either way: with TF SAME at stride 2 on an even size the 3x3 window starts at the
  pixel the 1x1 samples).
BN epsilon 1e-3, momentum 0.99 (Keras defaults) unless `eps` / `mom`. `p` pads the 3x3 branch's input by p on
every side and convolves VALID (timm / PyTorch: `p1`); the 1x1 branch then samples the window's centre, and
`--deploy` fuses it as timm's `reparameterize()` does (the pad counts as the 3x3 conv's own).
"""
from __future__ import annotations

from netc.ir.builder import Builder
from netc.ir.graph import Value
from netc.registry import REGISTRY, Args, BlockType, Param


@REGISTRY.block
class RepVGG(BlockType):
    """RepVGG block: identity BN (when shapes allow) + 3x3 conv-BN + 1x1 conv-BN, summed, activation."""

    code = "rv"
    doc = "RepVGG block (training form)"
    params = {"r": Param(default=1), "s": Param(default=1), "c": Param(required=True), "g": Param(default=1),
              "eps": Param(default=1e-3, below=1.0), "mom": Param(default=0.99, below=1.0), "n": Param(),
              "p": Param()}

    def lower(self, b: Builder, a: Args, x: Value) -> Value:
        identity = x.channels == a.c and a.s == 1
        branches = []
        if identity:
            branches.append(b.batchnorm(x, "identity_bn", epsilon=a.eps, momentum=a.mom))
        for k, tag in ((3, "dense"), (1, "1x1")):
            padding, src = ("same" if k == 3 or identity else "valid"), x
            if k == 3 and a.p is not None:
                padding, src = "valid", b.pad(x, (a.p,) * 4, name="dense_pad")
            y = b.conv(src, a.c, k, a.s, padding, groups=a.g, bias=False, name=f"{tag}_conv")
            branches.append(b.batchnorm(y, f"{tag}_bn", epsilon=a.eps, momentum=a.mom))
        y = b.add_n(branches, name="add")
        act = a.n if a.n is not None else REGISTRY.activations["re"]
        return act.lower(b, y, "act")
