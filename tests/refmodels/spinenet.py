"""Reference SpineNet in Keras 3 (seed 003: TF Model Garden's legacy detection SpineNet and its nn_blocks).

Written from the seed's facts, not from its code; stock Keras layers only, so the saved `.keras` file loads
without custom objects. The network is first laid out as plain data (`plan`), then built from that plan
(`build`), so a spec author can read the block table without TensorFlow and the tests can check the hand
count of parameters against Keras's own.

    python -m tests.refmodels.spinenet 49 640            # block table and counts (markdown, docs/spinenet.md)

Facts reproduced (seed 003 + official/legacy/detection/modeling/architecture/nn_blocks.py):
- stem: conv 7x7 s2 SAME 64 (never scaled), BN, ReLU, max pool 3x3 s2 SAME;
- two level-2 bottleneck groups (`stem1`, `stem2`), the first with a projection shortcut;
- 15 blocks of BLOCK_SPECS, each: its two parents resampled (`resample_ops`) and summed with any
  zero-outdegree block of the same size and width (output blocks only), ReLU, then a group of
  `block_repeats` units (the first with a projection shortcut only if its input width differs);
- bottleneck unit: [shortcut conv 1x1 4F + BN], conv 1x1 F, BN, ReLU, conv 3x3 F, BN, ReLU, conv 1x1 4F, BN,
  add, ReLU; residual unit: [shortcut conv 1x1 F + BN], conv 3x3 F, BN, ReLU, conv 3x3 F, BN, add, ReLU;
- endpoints, levels 3..7: conv 1x1 to `endpoints_num_filters`, BN, ReLU;
- every conv without bias; BN epsilon 1e-3, momentum 0.99; channels last.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np

FILTER_SIZE_MAP = {1: 32, 2: 64, 3: 128, 4: 256, 5: 256, 6: 256, 7: 256}

# (level, block type, (parent offset 0, parent offset 1), is output); offsets index the list of built
# blocks, where 0 and 1 are the two stem groups.
BLOCK_SPECS = [
    (2, "bottleneck", (0, 1), False),
    (4, "residual", (0, 1), False),
    (3, "bottleneck", (2, 3), False),
    (4, "bottleneck", (2, 4), False),
    (6, "residual", (3, 5), False),
    (4, "bottleneck", (3, 5), False),
    (5, "residual", (6, 7), False),
    (7, "residual", (6, 8), False),
    (5, "bottleneck", (8, 9), False),
    (5, "bottleneck", (8, 10), False),
    (4, "bottleneck", (5, 10), True),
    (3, "bottleneck", (4, 10), True),
    (5, "bottleneck", (7, 12), True),
    (7, "bottleneck", (5, 14), True),
    (6, "bottleneck", (12, 14), True),
]

SCALING_MAP = {
    "49S": dict(endpoints_num_filters=128, filter_size_scale=0.65, resample_alpha=0.5, block_repeats=1),
    "49": dict(endpoints_num_filters=256, filter_size_scale=1.0, resample_alpha=0.5, block_repeats=1),
    "96": dict(endpoints_num_filters=256, filter_size_scale=1.0, resample_alpha=0.5, block_repeats=2),
    "143": dict(endpoints_num_filters=256, filter_size_scale=1.0, resample_alpha=1.0, block_repeats=3),
    "190": dict(endpoints_num_filters=512, filter_size_scale=1.3, resample_alpha=1.0, block_repeats=4),
}

MIN_LEVEL, MAX_LEVEL = 3, 7
STEM_FILTERS = 64
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99
EXPANSION = {"bottleneck": 4, "residual": 1}


# ---------------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Resample:
    """How one parent is brought to its target block's size and width."""

    parent: int          # index of the parent in the list of blocks (0, 1: stem groups)
    in_channels: int     # the parent's output width C
    mid_channels: int    # int(alpha * C'), C' = C / 4 for a bottleneck parent, else C
    down_conv: bool      # a 3x3 s2 SAME conv-BN-ReLU (first halving)
    pools: int           # then this many 3x3 s2 SAME max pools
    up: int              # nearest upsampling factor (1: none)
    out_channels: int    # target width, x4 for a bottleneck target

    def ops(self) -> list[str]:
        """The op sequence, e.g. ['conv1x1 256->64', 'bn', 'relu', 'conv3x3s2 64', ...]."""
        seq = [f"conv1x1 {self.in_channels}->{self.mid_channels}", "bn", "relu"]
        if self.down_conv:
            seq += [f"conv3x3s2 {self.mid_channels}->{self.mid_channels}", "bn", "relu"]
        seq += ["maxpool3x3s2"] * self.pools
        if self.up > 1:
            seq.append(f"upsample_nearest x{self.up}")
        seq += [f"conv1x1 {self.mid_channels}->{self.out_channels}", "bn"]
        return seq

    def params(self) -> int:
        c, m, o = self.in_channels, self.mid_channels, self.out_channels
        return c * m + 4 * m + (9 * m * m + 4 * m if self.down_conv else 0) + m * o + 4 * o


@dataclass(frozen=True)
class Block:
    """One built block: a group of `repeats` residual or bottleneck units and what feeds it."""

    index: int                         # position in the list of blocks (offsets of BLOCK_SPECS index it)
    name: str                          # 'stem1', 'stem2', 'block1' .. 'block15' (layer name prefix)
    level: int
    kind: str                          # 'bottleneck' or 'residual'
    filters: int                       # F: int(FILTER_SIZE_MAP[level] * filter_size_scale)
    in_channels: int                   # width entering the first unit
    size: int                          # spatial size, ceil(input / 2**level)
    repeats: int
    resamples: tuple[Resample, ...] = ()   # empty for the stem groups
    merged: tuple[int, ...] = ()       # zero-outdegree blocks added to the sum, unresampled
    is_output: bool = False

    @property
    def out_channels(self) -> int:
        return self.filters * EXPANSION[self.kind]

    @property
    def projection(self) -> bool:
        """Whether the first unit has a projection shortcut (the seed's rule: width differs)."""
        return self.in_channels != self.out_channels

    def unit_params(self, first: bool) -> int:
        f, o = self.filters, self.out_channels
        cin = self.in_channels if first else o
        proj = cin * o + 4 * o if (first and self.projection) else 0
        if self.kind == "bottleneck":
            return proj + cin * f + 4 * f + 9 * f * f + 4 * f + f * o + 4 * o
        return proj + 9 * cin * f + 4 * f + 9 * f * f + 4 * f

    def group_params(self) -> int:
        return sum(self.unit_params(first=r == 0) for r in range(self.repeats))

    def params(self) -> int:
        """Group plus the resampling of its parents (merged blocks add no weights)."""
        return self.group_params() + sum(r.params() for r in self.resamples)


@dataclass(frozen=True)
class Plan:
    """SpineNet laid out as data: the stem, the blocks in build order, the endpoints."""

    model_id: str
    input_size: int
    blocks: tuple[Block, ...]
    endpoints: dict[int, int]          # level -> index of the block it reads
    endpoints_num_filters: int
    resample_alpha: float
    extra: dict = field(default_factory=dict)

    def stem_params(self) -> int:
        return 7 * 7 * 3 * STEM_FILTERS + 4 * STEM_FILTERS

    def endpoint_params(self, level: int) -> int:
        c, e = self.blocks[self.endpoints[level]].out_channels, self.endpoints_num_filters
        return c * e + 4 * e

    def params(self) -> int:
        return (self.stem_params() + sum(b.params() for b in self.blocks)
                + sum(self.endpoint_params(lv) for lv in self.endpoints))

    def bn_params(self) -> int:
        """Moving mean and variance: the non-trainable half of every BN."""
        return sum(2 * w for _, kind, w in creation_order(self) if kind == "bn")

    def output_shapes(self) -> dict[int, tuple[int, int, int]]:
        return {lv: (self.blocks[i].size, self.blocks[i].size, self.endpoints_num_filters)
                for lv, i in self.endpoints.items()}


def _size(input_size: int, level: int) -> int:
    return int(math.ceil(input_size / 2 ** level))


def plan(model_id: str = "49", input_size: int = 640) -> Plan:
    """Lay SpineNet `model_id` (a SCALING_MAP key) out for a square input of `input_size` pixels."""
    if model_id not in SCALING_MAP:
        raise ValueError(f"unknown SpineNet {model_id!r}; known: {', '.join(SCALING_MAP)}")
    p = SCALING_MAP[model_id]
    scale, alpha, repeats = p["filter_size_scale"], p["resample_alpha"], p["block_repeats"]
    stem_f = int(FILTER_SIZE_MAP[2] * scale)
    s2 = _size(input_size, 2)
    blocks = [Block(0, "stem1", 2, "bottleneck", stem_f, STEM_FILTERS, s2, repeats),
              Block(1, "stem2", 2, "bottleneck", stem_f, stem_f * 4, s2, repeats)]
    outdegree = [0, 0]
    endpoints: dict[int, int] = {}
    for i, (level, kind, offsets, is_output) in enumerate(BLOCK_SPECS):
        size = _size(input_size, level)
        filters = int(FILTER_SIZE_MAP[level] * scale)
        target_c = filters * EXPANSION[kind]
        resamples = []
        for off in offsets:
            src = blocks[off]
            c_prime = src.out_channels / 4 if src.kind == "bottleneck" else src.out_channels
            mid = int(c_prime * alpha)
            down, pools, up = False, 0, 1
            if src.size > size:
                down, width = True, src.size / 2
                while width > size:
                    pools, width = pools + 1, width / 2
            elif src.size < size:
                up = size // src.size
            resamples.append(Resample(off, src.out_channels, mid, down, pools, up, target_c))
            outdegree[off] += 1
        merged = []
        if is_output:
            for j, blk in enumerate(blocks):
                if outdegree[j] == 0 and blk.size == size and blk.out_channels == target_c:
                    merged.append(j)
                    outdegree[j] += 1
        blocks.append(Block(len(blocks), f"block{i + 1}", level, kind, filters, target_c, size, repeats,
                            tuple(resamples), tuple(merged), is_output))
        outdegree.append(0)
        if is_output:
            if level in endpoints or not MIN_LEVEL <= level <= MAX_LEVEL:
                raise ValueError(f"bad output level {level}")
            endpoints[level] = len(blocks) - 1
    return Plan(model_id, input_size, tuple(blocks), dict(sorted(endpoints.items())),
                p["endpoints_num_filters"], alpha)


# ------------------------------------------------------------------------------- layer names and order
def _unit_layers(b: Block, r: int) -> list[tuple[str, str, int]]:
    """(name, kind, width) of one unit's weighted layers, in the seed's creation order."""
    u = f"{b.name}_u{r + 1}"
    f, o = b.filters, b.out_channels
    out = []
    if r == 0 and b.projection:
        out += [(f"{u}_shortcut_conv", "conv", o), (f"{u}_shortcut_bn", "bn", o)]
    n = 3 if b.kind == "bottleneck" else 2
    for k in range(1, n + 1):
        w = o if k == n else f
        out += [(f"{u}_conv{k}", "conv", w), (f"{u}_bn{k}", "bn", w)]
    return out


def _resample_layers(b: Block, k: int, rs: Resample) -> list[tuple[str, str, int]]:
    p = f"{b.name}_in{k}"
    out = [(f"{p}_reduce_conv", "conv", rs.mid_channels), (f"{p}_reduce_bn", "bn", rs.mid_channels)]
    if rs.down_conv:
        out += [(f"{p}_down_conv", "conv", rs.mid_channels), (f"{p}_down_bn", "bn", rs.mid_channels)]
    out += [(f"{p}_proj_conv", "conv", rs.out_channels), (f"{p}_proj_bn", "bn", rs.out_channels)]
    return out


def creation_order(pl: Plan) -> list[tuple[str, str, int]]:
    """Every weighted layer (name, 'conv' or 'bn', output width) in the order seed 003 creates them:
    stem, stem1, stem2, then per block its two resamplings then its units, then the endpoints 3..7."""
    out = [("stem_conv", "conv", STEM_FILTERS), ("stem_bn", "bn", STEM_FILTERS)]
    for b in pl.blocks:
        for k, rs in enumerate(b.resamples):
            out += _resample_layers(b, k, rs)
        for r in range(b.repeats):
            out += _unit_layers(b, r)
    for lv in pl.endpoints:
        out += [(f"p{lv}_conv", "conv", pl.endpoints_num_filters), (f"p{lv}_bn", "bn", pl.endpoints_num_filters)]
    return out


# ---------------------------------------------------------------------------------------------- Keras
def build(model_id: str = "49", input_size: int = 640, *, dtype: str = "float32", batch_size: int | None = None):
    """The Keras 3 functional model of `plan(model_id, input_size)`: outputs [P3, ..., P7] (list, level
    order), named p3..p7. Kernels come from Keras's default initializers; see `randomize`."""
    import keras
    from keras import layers as L

    pl = plan(model_id, input_size)
    conv_kw = dict(use_bias=False, dtype=dtype)
    bn_kw = dict(axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=dtype)

    def conv(x, name, filters, k=1, s=1):
        return L.Conv2D(filters, k, strides=s, padding="same" if k > 1 else "valid", name=name, **conv_kw)(x)

    def bn(x, name):
        return L.BatchNormalization(name=name, **bn_kw)(x)

    def relu(x, name):
        return L.ReLU(name=name, dtype=dtype)(x)

    def unit(x, b: Block, r: int):
        u = f"{b.name}_u{r + 1}"
        shortcut = x
        if r == 0 and b.projection:
            shortcut = bn(conv(x, f"{u}_shortcut_conv", b.out_channels), f"{u}_shortcut_bn")
        if b.kind == "bottleneck":
            y = relu(bn(conv(x, f"{u}_conv1", b.filters), f"{u}_bn1"), f"{u}_relu1")
            y = relu(bn(conv(y, f"{u}_conv2", b.filters, k=3), f"{u}_bn2"), f"{u}_relu2")
            y = bn(conv(y, f"{u}_conv3", b.out_channels), f"{u}_bn3")
        else:
            y = relu(bn(conv(x, f"{u}_conv1", b.filters, k=3), f"{u}_bn1"), f"{u}_relu1")
            y = bn(conv(y, f"{u}_conv2", b.filters, k=3), f"{u}_bn2")
        y = L.Add(name=f"{u}_add", dtype=dtype)([y, shortcut])
        return relu(y, f"{u}_out")

    def group(x, b: Block):
        for r in range(b.repeats):
            x = unit(x, b, r)
        return x

    def resample(x, b: Block, k: int, rs: Resample):
        p = f"{b.name}_in{k}"
        x = relu(bn(conv(x, f"{p}_reduce_conv", rs.mid_channels), f"{p}_reduce_bn"), f"{p}_reduce_relu")
        if rs.down_conv:
            x = relu(bn(conv(x, f"{p}_down_conv", rs.mid_channels, k=3, s=2), f"{p}_down_bn"), f"{p}_down_relu")
        for n in range(rs.pools):
            x = L.MaxPooling2D(3, strides=2, padding="same", name=f"{p}_pool{n + 1}", dtype=dtype)(x)
        if rs.up > 1:
            x = L.UpSampling2D(rs.up, interpolation="nearest", name=f"{p}_up", dtype=dtype)(x)
        return bn(conv(x, f"{p}_proj_conv", rs.out_channels), f"{p}_proj_bn")

    inputs = keras.Input((input_size, input_size, 3), batch_size=batch_size, dtype=dtype, name="image")
    x = relu(bn(conv(inputs, "stem_conv", STEM_FILTERS, k=7, s=2), "stem_bn"), "stem_relu")
    x = L.MaxPooling2D(3, strides=2, padding="same", name="stem_pool", dtype=dtype)(x)
    feats = []
    for b in pl.blocks[:2]:
        x = group(x, b)
        feats.append(x)
    for b in pl.blocks[2:]:
        parents = [resample(feats[rs.parent], b, k, rs) for k, rs in enumerate(b.resamples)]
        parents += [feats[j] for j in b.merged]
        x = relu(L.Add(name=f"{b.name}_sum", dtype=dtype)(parents), f"{b.name}_sum_relu")
        feats.append(group(x, b))
    outputs = []
    for lv, i in pl.endpoints.items():
        y = bn(conv(feats[i], f"p{lv}_conv", pl.endpoints_num_filters), f"p{lv}_bn")
        outputs.append(relu(y, f"p{lv}"))
    return keras.Model(inputs, outputs, name=f"spinenet{model_id.lower()}_{input_size}")


# -------------------------------------------------------------------------- random weights, calibrated
def randomize(model, seed: int = 0) -> None:
    """Draw every weight with numpy (independent of Keras's RNG): conv kernels N(0, 2/fan_in), BN gamma
    U(0.5, 1.5), beta N(0, 0.2), moving mean N(0, 0.1), moving variance U(0.5, 1.5). Call `calibrate` next."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            k = layer.kernel
            fan_in = int(np.prod(k.shape[:-1]))
            k.assign(rng.normal(0.0, math.sqrt(2.0 / fan_in), k.shape).astype(k.dtype))
        elif isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype(layer.gamma.dtype))
            layer.beta.assign(rng.normal(0.0, 0.2, c).astype(layer.beta.dtype))
            layer.moving_mean.assign(rng.normal(0.0, 0.1, c).astype(layer.moving_mean.dtype))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, c).astype(layer.moving_variance.dtype))


def calibrate(model, batch) -> None:
    """Set each BN's moving mean and variance to the batch statistics of its actual input, in topological
    order, in one pass: the graph is run node by node (Keras 3's Function._run_through_graph, pinned
    keras 3.15.1) and every BN, when reached, is calibrated before it runs in inference mode. Works for any
    functional model whose BNs normalise the last axis."""
    import keras
    from keras import ops

    def calibrating(op):
        if not isinstance(op, keras.layers.BatchNormalization):
            return op

        def call(x, **kwargs):
            axes = tuple(range(len(x.shape) - 1))
            xv = (x.numpy() if hasattr(x, "numpy") else ops.convert_to_numpy(x)).astype(np.float64)
            op.moving_mean.assign(xv.mean(axis=axes).astype(op.moving_mean.dtype))
            op.moving_variance.assign(xv.var(axis=axes).astype(op.moving_variance.dtype))
            return op(x, training=False)
        return call

    model._run_through_graph(ops.convert_to_tensor(batch, dtype=model.inputs[0].dtype), operation_fn=calibrating)


def calibration_batch(input_size: int, n: int = 8, seed: int = 1) -> np.ndarray:
    """A seeded standard-normal image batch (N, S, S, 3), float32."""
    return np.random.default_rng(seed).standard_normal((n, input_size, input_size, 3)).astype(np.float32)


def reference(model_id: str = "49", input_size: int = 256, *, seed: int = 0, calib_n: int = 8):
    """A built, randomized and calibrated float32 model: the reference a netc spec is compared with."""
    model = build(model_id, input_size)
    randomize(model, seed)
    calibrate(model, calibration_batch(input_size, calib_n))
    return model


def float64_twin(model, model_id: str, input_size: int):
    """The same network in float64 with `model`'s weights (same build, so the same weight order)."""
    twin = build(model_id, input_size, dtype="float64")
    twin.set_weights([w.astype(np.float64) for w in model.get_weights()])
    return twin


def normalised_diff(ref: list, other: list) -> float:
    """max over outputs of max|ref - other| / max|ref| (netc check's measure)."""
    worst = 0.0
    for a, b in zip(ref, other):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(a))))
    return worst


# ------------------------------------------------------------------------------------------ the table
def markdown(pl: Plan) -> str:
    """The block table and the resampling table of `pl` as markdown (docs/spinenet.md shows their output)."""
    rows = [f"SpineNet-{pl.model_id} at {pl.input_size}x{pl.input_size}x3: {pl.params():,} parameters "
            f"({pl.params() - pl.bn_params():,} trainable, {pl.bn_params():,} BN moving statistics); "
            f"{len(creation_order(pl))} weighted layers.", "",
            "| # | name | level | type x units | F | in ch | out ch | size | projection | parents | merged "
            "| params: units | resampling | total |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows.append(f"| - | stem | 2 | conv7x7s2, bn, relu, maxpool3x3s2 | - | 3 | {STEM_FILTERS} | "
                f"{_size(pl.input_size, 1)}, {_size(pl.input_size, 2)} | - | input | - | {pl.stem_params():,} | - "
                f"| {pl.stem_params():,} |")
    for b in pl.blocks:
        parents = ", ".join(pl.blocks[r.parent].name for r in b.resamples) or ("stem" if b.index == 0 else "stem1")
        merged = ", ".join(pl.blocks[j].name for j in b.merged) or "-"
        out = f" (P{b.level})" if b.is_output else ""
        res = sum(r.params() for r in b.resamples)
        rows.append(f"| {b.index} | {b.name}{out} | {b.level} | {b.kind} x{b.repeats} | {b.filters} | "
                    f"{b.in_channels} | {b.out_channels} | {b.size} | {'yes' if b.projection else 'no'} | "
                    f"{parents} | {merged} | {b.group_params():,} | {res:,} | {b.params():,} |")
    for lv, i in pl.endpoints.items():
        src = pl.blocks[i]
        rows.append(f"| - | p{lv} | {lv} | conv1x1, bn, relu | - | {src.out_channels} | "
                    f"{pl.endpoints_num_filters} | {src.size} | - | {src.name} | - | {pl.endpoint_params(lv):,} "
                    f"| - | {pl.endpoint_params(lv):,} |")
    rows += ["", "| block | input | parent (level, type, ch, size) | ops | params |", "|---|---|---|---|---|"]
    for b in pl.blocks:
        for k, r in enumerate(b.resamples):
            src = pl.blocks[r.parent]
            rows.append(f"| {b.name} | in{k} | {src.name} ({src.level}, {src.kind}, {src.out_channels}, {src.size}) "
                        f"| {', '.join(r.ops())} | {r.params():,} |")
    return "\n".join(rows)


if __name__ == "__main__":
    mid = sys.argv[1] if len(sys.argv) > 1 else "49"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 640
    print(markdown(plan(mid, size)))
