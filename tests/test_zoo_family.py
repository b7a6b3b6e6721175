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

_NASNET = (ZOO / "nasnet_mobile.net").read_text()
#: NASNetMobile's cell uses (stem to the last normal cell) and NASNetLarge's: stem 96 filters, f = 42, 84 in the
#: stem cells and 168, 336, 672 in the stages of 6 normal cells; skip_reduction, so the cell after a reduction
#: cell reads the cell before it (`n7#nr_...:r6#:n4#`); at 331 px the sizes 165, 83 and 21 are odd (`zodd`)
MOBILE_CELLS = _NASNET[_NASNET.index("    stem#"):_NASNET.index("    act_nre\n")]
LARGE_CELLS = """    stem#cn_k3_s2_c96_padvalid_bn_mom0.9997
    s1#reduction_f42_zodd:stem#:stem#
    s2#rr_f84_h42_zodd:s1#:stem#
    n0#nr_f168_h84:s2#:s1#  n1#np_f168:n0#:s2#  n2#np_f168:n1#:n0#  n3#np_f168:n2#:n1#
    n4#np_f168:n3#:n2#  n5#np_f168:n4#:n3#
    r6#rp_f336_zeven:n5#:n4#
    n7#nr_f336_h168:r6#:n4#  n8#np_f336:n7#:r6#  n9#np_f336:n8#:n7#  n10#np_f336:n9#:n8#
    n11#np_f336:n10#:n9#  n12#np_f336:n11#:n10#
    r13#rp_f672_zodd:n12#:n11#
    n14#nr_f672_h336:r13#:n11#  n15#np_f672:n14#:r13#  n16#np_f672:n15#:n14#  n17#np_f672:n16#:n15#
    n18#np_f672:n17#:n16#  n19#np_f672:n18#:n17#
"""

#: member -> (zoo spec, statements put before it, (written, replacement) edits, params, trainable)
MEMBERS = {
    # Keras width / depth coefficients: round_filters (multiples of 8, at most 10% below) and
    # ceil(depth x repeats) for every stage, one-block stages included
    "EfficientNetB1": ("efficientnet_b0", "depth 1.1\n", [("224x224x3", "240x240x3")], 7_856_239, 7_794_184),
    "EfficientNetB2": ("efficientnet_b0", "width 1.1\ndepth 1.2\n",
                       [("224x224x3", "260x260x3"), ("dropout_dr0.2", "dropout_dr0.3")], 9_177_569, 9_109_994),
    "EfficientNetB3": ("efficientnet_b0", "width 1.2\ndepth 1.4\n",
                       [("224x224x3", "300x300x3"), ("dropout_dr0.2", "dropout_dr0.3")], 12_320_535, 12_233_232),
    "EfficientNetB4": ("efficientnet_b0", "width 1.4\ndepth 1.8\n",
                       [("224x224x3", "380x380x3"), ("dropout_dr0.2", "dropout_dr0.4")], 19_466_823, 19_341_616),
    "EfficientNetB5": ("efficientnet_b0", "width 1.6\ndepth 2.2\n",
                       [("224x224x3", "456x456x3"), ("dropout_dr0.2", "dropout_dr0.4")], 30_562_527, 30_389_784),
    "EfficientNetB6": ("efficientnet_b0", "width 1.8\ndepth 2.6\n",
                       [("224x224x3", "528x528x3"), ("dropout_dr0.2", "dropout_dr0.5")], 43_265_143, 43_040_704),
    "EfficientNetB7": ("efficientnet_b0", "width 2.0\ndepth 3.1\n",
                       [("224x224x3", "600x600x3"), ("dropout_dr0.2", "dropout_dr0.5")], 66_658_687, 66_347_960),
    # Keras V2's round_filters is the nearest multiple of 8 without the 10% bound (`nearest`: 16 x 1.2 is 16, not
    # 24; stem 32, every stage's in / out filters and the top's 1280 all round so); its top dropout stays 0.2
    "EfficientNetV2B1": ("efficientnetv2_b0", "depth 1.1 written\n", [("224x224x3", "240x240x3")], 8_212_124, 8_141_052),
    "EfficientNetV2B2": ("efficientnetv2_b0", "width 1.1 nearest\ndepth 1.2 written\n", [("224x224x3", "260x260x3")],
                         10_178_374, 10_096_086),
    "EfficientNetV2B3": ("efficientnetv2_b0", "width 1.2 nearest\ndepth 1.4 written\n", [("224x224x3", "300x300x3")],
                         14_467_622, 14_358_406),
    "DenseNet169": ("densenet121", "", [("dl_w128_g32_r24  tr_c512", "dl_w128_g32_r32  tr_c640"),
                                        ("dl_w128_g32_r16\n", "dl_w128_g32_r32\n")], 14_307_880, 14_149_480),
    "DenseNet201": ("densenet121", "", [("dl_w128_g32_r24  tr_c512", "dl_w128_g32_r48  tr_c896"),
                                        ("dl_w128_g32_r16\n", "dl_w128_g32_r32\n")], 20_242_984, 20_013_928),
    "ResNet101V2": ("resnet50v2", "", [("mid_f256_o1024_r4", "mid_f256_o1024_r21")], 44_675_560, 44_577_896),
    "ResNet152V2": ("resnet50v2", "", [("mid_f128_o512_r2", "mid_f128_o512_r6"),
                                       ("mid_f256_o1024_r4", "mid_f256_o1024_r34")], 60_380_648, 60_236_904),
    "ResNet152": ("resnet101", "", [("bt_r4_s2", "bt_r8_s2"), ("bt_r23_s2", "bt_r36_s2")], 60_419_944, 60_268_520),
    "ConvNeXtSmall": ("convnext_tiny", "", [("cnx_c384_w1536_r9", "cnx_c384_w1536_r27")], 50_223_688, 50_223_688),
    "VGG19": ("vgg16", "", [("stage_c256_r3\n    stage_c512_r3\n    stage_c512_r3",
                              "stage_c256_r4\n    stage_c512_r4\n    stage_c512_r4")], 143_667_240, 143_667_240),
    "NASNetLarge": ("nasnet_mobile", "", [("224x224x3", "331x331x3"), (MOBILE_CELLS, LARGE_CELLS)],
                    88_949_818, 88_753_150),
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


#: keras.applications.EfficientNetV2B3(weights=None)'s convolutions (measured once, Keras 3.15.1): how many, the
#: stem's and the top's filters, and each block's project_conv filters run-length encoded (width, blocks) by stage
KERAS_V2B3_CONVS = {"convs": 136, "stem": 40, "top": 1536,
                    "project": [(16, 2), (40, 3), (56, 3), (112, 5), (136, 7), (232, 12)]}


def test_v2b3_convolutions_are_keras(tmp_path):
    """EfficientNetV2B3 layer by layer: the stem, every block's projection (stage widths and block counts) and
    the top have Keras' filters, and the spec has as many convolutions."""
    import itertools
    convs = [n for n in check_spec(str(member_spec("EfficientNetV2B3", tmp_path))).graph.nodes
             if n.prim.value == "conv"]
    project = [n.out.shape[-1] for n in convs if n.name.endswith("/project_conv")]
    assert {"convs": len(convs), "stem": convs[0].out.shape[-1], "top": convs[-1].out.shape[-1],
            "project": [(c, len(list(g))) for c, g in itertools.groupby(project)]} == KERAS_V2B3_CONVS


@pytest.mark.parametrize("rounding, channels", [("", 24), (" bounded", 24), (" nearest", 16)])
def test_width_rounding_word(rounding, channels):
    """16 x 1.2 = 19.2: `bounded` (the default) goes up to 24, since 16 is more than 10% below 19.2 (17.28);
    `nearest` (Keras V2) keeps 16 = int(19.2 + 4) // 8 * 8. 40 x 1.2 = 48 either way."""
    text = (f"width 1.2{rounding}\ninput x# 16x16x8\nb#:\n    select:x#\n    cn_k3_c16\n    cn_k3_c40\n    gap\n"
            "    fc_c4\noutput b#\n")
    model = check_spec(text)
    assert [n.out.shape[-1] for n in model.graph.nodes if n.prim.value == "conv"] == [channels, 48]
    assert model.params == (3 * 3 * 8 + 1) * channels + (3 * 3 * channels + 1) * 48 + 48 * 4 + 4   # with biases


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


#: the Dropout rates of keras.applications.X(weights=None), in model order (measured once, Keras 3.15.1):
#: each residual block's drop-connect, then the top dropout
KERAS_DROPOUT_RATES = {
    "EfficientNetB0": [0.025, 0.05, 0.075, 0.0875, 0.1125, 0.125, 0.15, 0.1625, 0.175, 0.2],
    "EfficientNetB1": [0.0086956522, 0.0260869565, 0.0347826087, 0.052173913, 0.0608695652, 0.0782608696,
                       0.0869565217, 0.0956521739, 0.1130434783, 0.1217391304, 0.1304347826, 0.147826087,
                       0.1565217391, 0.1652173913, 0.1739130435, 0.1913043478, 0.2],
    "EfficientNetV2B0": [0.019047619, 0.0380952381, 0.0571428571, 0.0666666667, 0.0857142857, 0.0952380952,
                         0.1047619048, 0.1142857143, 0.1333333333, 0.1428571429, 0.1523809524, 0.1619047619,
                         0.1714285714, 0.180952381, 0.1904761905, 0.2],
    # V2 divides by the 21 blocks as written (`depth 1.1 written`), so its rates pass 0.2
    "EfficientNetV2B1": [0.0095238095, 0.0285714286, 0.0380952381, 0.0571428571, 0.0666666667, 0.0857142857,
                         0.0952380952, 0.1047619048, 0.1238095238, 0.1333333333, 0.1428571429, 0.1523809524,
                         0.1619047619, 0.180952381, 0.1904761905, 0.2, 0.2095238095, 0.219047619, 0.2285714286,
                         0.2380952381, 0.2476190476, 0.2],
    "EfficientNetV2B3": [0.0095238095, 0.0285714286, 0.0380952381, 0.0571428571, 0.0666666667, 0.0857142857,
                         0.0952380952, 0.1047619048, 0.1142857143, 0.1333333333, 0.1428571429, 0.1523809524,
                         0.1619047619, 0.1714285714, 0.180952381, 0.2, 0.2095238095, 0.219047619, 0.2285714286,
                         0.2380952381, 0.2476190476, 0.2571428571, 0.2666666667, 0.2761904762, 0.2857142857,
                         0.2952380952, 0.2],
}


@pytest.mark.parametrize("name", sorted(KERAS_DROPOUT_RATES))
def test_drop_connect_schedule_is_keras(name, tmp_path):
    """`dc0.2`: each residual block's rate is Keras' 0.2 b / B, b counted over all blocks after `depth`; B too
    (EfficientNet), or B as written (`depth X written`: EfficientNetV2)."""
    if name in MEMBERS:
        path = member_spec(name, tmp_path)
    else:
        path = ZOO / ("efficientnet_b0.net" if name == "EfficientNetB0" else "efficientnetv2_b0.net")
    model = check_spec(str(path))
    rates = [n.attrs["rate"] for n in model.graph.nodes if n.prim.value == "dropout"]
    assert rates == pytest.approx(KERAS_DROPOUT_RATES[name], abs=1e-9)


def test_drop_connect_schedule_refuses_a_fixed_rate_too(tmp_path):
    from netc.diagnostics import NetcError
    text = "input x# 16x16x8\nb#:\n    select:x#\n    mb_k3_c8_r2_dc0.2_dr0.1\n    gap\n    fc_c4\noutput b#\n"
    with pytest.raises(NetcError, match="not both"):
        check_spec(text)


def test_drop_connect_as_written_refuses_a_rate_of_one():
    """`depth 3 written` counts B = 2 (as written) over 6 copies: `dc0.5` reaches 0.5 x 4 / 2 = 1 at the fifth
    copy, which no Dropout can be; refused at the block's `dc`."""
    from netc.diagnostics import NetcError
    text = "depth 3 written\ninput x# 16x16x8\nb#:\n    select:x#\n    mb_k3_c8_r2_dc0.5\n    gap\n    fc_c4\noutput b#\n"
    with pytest.raises(NetcError, match=r"0.5 x 4 / 2 = 1, 1 or more \(`depth 3 written`") as exc:
        check_spec(text)
    assert (exc.value.span.line, exc.value.span.col) == (5, 17)
    rates = [n.attrs["rate"] for n in check_spec(text.replace("dc0.5", "dc0.2")).graph.nodes
             if n.prim.value == "dropout"]
    assert rates == pytest.approx([0.2 * b / 2 for b in range(1, 6)])   # copy 0 drops at 0: no Dropout
