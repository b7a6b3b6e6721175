"""The other members of each specs/zoo/ family: the zoo spec with other template uses, block repeats or
multipliers (and input size) has the parameter count keras.applications states for that member.

The counts are facts measured once, offline, with keras.applications.X(weights=None, classes=1000)
.count_params() and the sum of its trainable weights' sizes (Keras 3.15.1; any input size: the counts do not
depend on it); here only the specs are compiled (no Keras, no weights drawn), so each case costs well under a second.
"""
from __future__ import annotations

import pathlib

import pytest

from netc.compiler import check_spec

ZOO = pathlib.Path(__file__).resolve().parent.parent / "specs" / "zoo"

#: member -> (zoo spec, statements put before it, (written, replacement) edits, params, trainable)
MEMBERS = {
    # Keras width / depth coefficients: round_filters (multiples of 8, at most 10% below) and
    # ceil(depth x repeats) for every stage, one-block stages included
    "EfficientNetB1": ("efficientnet_b0", "depth 1.1\n", [("224x224x3", "240x240x3")], 7_856_239, 7_794_184),
    "EfficientNetB3": ("efficientnet_b0", "width 1.2\ndepth 1.4\n",
                       [("224x224x3", "300x300x3"), ("dropout_dr0.2", "dropout_dr0.3")], 12_320_535, 12_233_232),
    "EfficientNetV2B1": ("efficientnetv2_b0", "depth 1.1\n", [("224x224x3", "240x240x3")], 8_212_124, 8_141_052),
    "EfficientNetV2B2": ("efficientnetv2_b0", "width 1.1\ndepth 1.2\n",
                         [("224x224x3", "260x260x3"), ("dropout_dr0.2", "dropout_dr0.3")], 10_178_374, 10_096_086),
    "DenseNet169": ("densenet121", "", [("dl_w128_g32_r24  tr_c512", "dl_w128_g32_r32  tr_c640"),
                                        ("dl_w128_g32_r16\n", "dl_w128_g32_r32\n")], 14_307_880, 14_149_480),
    "DenseNet201": ("densenet121", "", [("dl_w128_g32_r24  tr_c512", "dl_w128_g32_r48  tr_c896"),
                                        ("dl_w128_g32_r16\n", "dl_w128_g32_r32\n")], 20_242_984, 20_013_928),
    "ResNet101V2": ("resnet50v2", "", [("mid_f256_o1024_r4", "mid_f256_o1024_r21")], 44_675_560, 44_577_896),
    "ResNet152V2": ("resnet50v2", "", [("mid_f128_o512_r2", "mid_f128_o512_r6"),
                                       ("mid_f256_o1024_r4", "mid_f256_o1024_r34")], 60_380_648, 60_236_904),
    "ResNet152": ("resnet101", "", [("bt_r4_s2", "bt_r8_s2"), ("bt_r23_s2", "bt_r36_s2")], 60_419_944, 60_268_520),
    "ConvNeXtSmall": ("convnext_tiny", "", [("cnx_c384_w1536_r9", "cnx_c384_w1536_r27")], 50_223_688, 50_223_688),
    "MobileNet(alpha=0.5)": ("mobilenet", "width 0.5\n", [], 1_342_536, 1_331_592),
    "MobileNet(alpha=0.75)": ("mobilenet", "width 0.75\n", [], 2_601_976, 2_585_560),
}


def member_spec(name: str, tmp: pathlib.Path) -> pathlib.Path:
    base, head, edits, _, _ = MEMBERS[name]
    text = (ZOO / f"{base}.net").read_text()
    for written, replacement in edits:
        assert text.count(written) == 1, (base, written)
        text = text.replace(written, replacement)
    path = tmp / f"{name.replace('(', '_').replace(')', '').replace('=', '')}.net"
    path.write_text(head + text)
    return path


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_family_member_count(name, tmp_path):
    model = check_spec(str(member_spec(name, tmp_path)))
    trainable = sum(w.size for w in model.graph.weights if w.trainable)
    assert (model.params, trainable) == MEMBERS[name][3:]
    assert [tuple(v.shape) for _, v in model.graph.outputs] == [(None, 1000)]


def test_depth_scales_written_repeats_and_template_repeats():
    """`depth` scales `r1` when written (a one-block stage) and a template use's `_rN`, both rounded up;
    a block without `r` stays single."""
    body = ("template t_c:\n    cn_k3_c{c}\n"
            "input x# 16x16x8\nb#:\n    select:x#\n    cn_k3_c8\n    ir_r1_k3_c8\n    ir_k3_c8\n    t_c8_r3\n"
            "    gap\n    fc_c4\noutput b#\n")

    def convs(text):
        return sum(n.prim.value == "conv" for n in check_spec(text).graph.nodes)
    plain = convs(body)
    # 1 cn + 2 ir (1 depthwise + 1 projection each at e1) + 3 template cn = 8 convs; depth 1.5: ir_r1 -> 2 copies,
    # t_r3 -> 5 copies (4.5 rounded up); cn and ir_k3 stay single
    assert plain == 1 + 2 * 2 + 3
    assert convs("depth 1.5\n" + body) == 1 + 3 * 2 + 5
