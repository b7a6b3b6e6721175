"""Seed 002's `custom_net` backbone and `custom_head` classifier as netc modules (a netc plugin).

Install this package (its `netc.blocks` entry point registers them), or name this file with
`netc ... --plugin examples/seed002/seed002_blocks/__init__.py`.
"""
from netc.diagnostics import NetcError
from netc.registry import Kwarg, ModuleType, Registry


class CustomNet(ModuleType):
    """`depth` 3x3 convolutions (bias, padding 1 = SAME at stride 1), each followed by ReLU."""

    name = "custom_net"
    doc = "depth 3x3 conv + ReLU layers, out_planes[i] channels each"
    kwargs = {"depth": Kwarg("int", doc="number of conv layers"),
              "out_planes": Kwarg("list[int]", doc="channels of each layer")}

    def check(self, kw, spans):
        if kw["depth"] < 1:
            raise NetcError(f"`depth` must be at least 1, found {kw['depth']}", spans["depth"])
        if len(kw["out_planes"]) < kw["depth"]:
            raise NetcError(f"`out_planes` has {len(kw['out_planes'])} entries but `depth` is {kw['depth']}",
                            spans["out_planes"])
        for c in kw["out_planes"]:
            if c < 1:
                raise NetcError(f"`out_planes` entries must be at least 1, found {c}", spans["out_planes"])

    def lower(self, b, kw, xs):
        x = xs[0]
        for i in range(kw["depth"]):
            x = b.conv(x, kw["out_planes"][i], 3, 1, "same", bias=True, name=f"layer{i}")
            x = b.relu(x, name=f"relu{i}")
        return x


class CustomHead(ModuleType):
    """Global average pooling, then a dense layer to `num_classes` (its input width is the previous
    module's channels)."""

    name = "custom_head"
    doc = "global average pool + fully connected to num_classes"
    kwargs = {"num_classes": Kwarg("int", doc="number of classes")}

    def check(self, kw, spans):
        if kw["num_classes"] < 1:
            raise NetcError(f"`num_classes` must be at least 1, found {kw['num_classes']}", spans["num_classes"])

    def lower(self, b, kw, xs):
        x = b.global_avgpool(xs[0], name="pool", keepdims=False)
        return b.dense(x, kw["num_classes"], bias=True, name="fc")


def register(reg: Registry) -> None:
    """Register seed 002's modules (the `netc.blocks` entry point)."""
    reg.module(CustomNet)
    reg.module(CustomHead)
