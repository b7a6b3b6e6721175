"""The notation the keras.applications families need, against hand-computed shapes and weights: non-square
kernels, VALID convs with BN, convs with neither bias nor BN, BN without scale, standalone BN / LayerNorm,
depthwise and separable blocks, per-side padding and cropping, GELU, and the structural features (a layer block
with a labelled input, `select:` inside a stack, `id:`, template `{0}` names and repeats)."""
from __future__ import annotations

import numpy as np
import pytest

from netc.compiler import check_spec
from netc.diagnostics import NetcError
from netc.ir import interp
from netc.ir.graph import Prim
from netc.ir.weights import init_weights


def _checked(body: str, size: str = "17x17x8", templates: str = ""):
    return check_spec(f"{templates}input x# {size}\nb#:\n    select:x#\n{body}\noutput b#\n")


def _nodes(m, prim: Prim):
    return [n for n in m.graph.nodes if n.prim is prim]


def test_non_square_kernels_and_valid_convolution_with_bn():
    m = _checked("    cn_k1x7_c4_bn_noscale  cn_k7x1_s2_c6_padvalid_bn_nre")
    c1, c2 = _nodes(m, Prim.CONV)
    assert c1.weights["kernel"].shape == (1, 7, 8, 4) and c1.out.shape == (None, 17, 17, 4)
    assert c1.attrs["pads"] == (0, 3, 0, 3)                       # SAME: 6 columns, 3 each side
    assert c2.weights["kernel"].shape == (7, 1, 4, 6) and c2.out.shape == (None, 6, 9, 6)   # (17-7)//2+1, 16//2+1
    assert c2.attrs["padding"] == "valid" and "bias" not in c1.weights and "bias" not in c2.weights
    bn1, bn2 = _nodes(m, Prim.BATCHNORM)
    assert sorted(bn1.weights) == ["beta", "moving_mean", "moving_variance"]   # noscale: no gamma
    assert sorted(bn2.weights) == ["beta", "gamma", "moving_mean", "moving_variance"]
    assert m.params == 1 * 7 * 8 * 4 + 3 * 4 + 7 * 4 * 6 + 4 * 6


def test_nobias_is_a_flag_not_an_activation():
    m = _checked("    cn_k3_c4_nobias  cn_k3_c4")
    a, b = _nodes(m, Prim.CONV)
    assert "bias" not in a.weights and "bias" in b.weights
    assert not _nodes(m, Prim.RELU) and not _nodes(m, Prim.PRELU)


def test_standalone_norms_depthwise_separable_and_gelu():
    m = _checked("    bn_eps1.001e-5_nre  dw_k3_s2_bn_nr6  sep_k5_c12_bn_nge  ln_eps1e-6")
    bn = _nodes(m, Prim.BATCHNORM)
    assert bn[0].attrs["epsilon"] == 1.001e-5 and bn[0].inputs[0].producer.prim is Prim.INPUT
    dw = _nodes(m, Prim.CONV)[0]
    assert dw.attrs["groups"] == 8 and dw.out.shape == (None, 9, 9, 8) and "bias" not in dw.weights
    sep = _nodes(m, Prim.SEPCONV)[0]
    assert sep.weights["depthwise_kernel"].shape == (5, 5, 1, 8) and sep.weights["pointwise_kernel"].shape == \
        (1, 1, 8, 12)
    assert _nodes(m, Prim.GELU) and _nodes(m, Prim.LAYERNORM)[0].attrs["epsilon"] == 1e-6
    assert m.graph.outputs[0][1].shape == (None, 9, 9, 12)


def test_padding_and_cropping_sides():
    m = _checked("    zpad_bot1_right1  crop_top2_left1  zpad")
    pad, crop, pad2 = [n for n in m.graph.nodes if n.prim in (Prim.PAD, Prim.CROP)]
    assert pad.attrs["pads"] == (0, 0, 1, 1) and pad.out.shape == (None, 18, 18, 8)
    assert crop.attrs["crops"] == (2, 1, 0, 0) and crop.out.shape == (None, 16, 17, 8)
    assert pad2.attrs["pads"] == (1, 1, 1, 1)
    x = np.arange(17 * 17 * 8, dtype=np.float32).reshape(1, 17, 17, 8)
    y = interp.run(m.graph, {}, {"x": x})["b"]
    # rows: pad one at the bottom, then drop two at the top; columns: pad one right, drop one left; then pad 1
    want = np.pad(np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 2:, 1:], ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_array_equal(y, want)


def test_a_branching_unit_is_a_template_used_like_a_block():
    templates = ("template unit_c:\n"
                 "    {0}in#id:\n"
                 "    bn_nre\n"
                 "    {0}sc#cn_k1_c{c}:{0}in#\n"
                 "    select:{0}in#\n"
                 "    {0}res#cn_k3_c{c}_nobias\n"
                 "    add:{0}sc#:{0}res#\n")
    m = _checked("    unit_c8_r3  last#unit_c16", templates=templates)
    adds = _nodes(m, Prim.ADD)
    assert len(adds) == 4 and m.graph.outputs[0][1].shape == (None, 17, 17, 16)
    # each copy's shortcut conv reads that copy's input: the previous copy's add (or the stack's input)
    convs = [n for n in _nodes(m, Prim.CONV) if n.weights["kernel"].shape[0] == 1]
    assert convs[0].inputs[0].producer.prim is Prim.INPUT
    assert [c.inputs[0].producer for c in convs[1:]] == adds[:3]
    labels = [n.name.split("/")[1] for n in convs]
    assert labels == ["unit1_1sc", "unit1_2sc", "unit1_3sc", "lastsc"]   # {0}: the use's name, per copy


def test_template_reference_rules():
    t = "template one_c:\n    cn_k1_c{c}\n"
    with pytest.raises(NetcError, match="reads no reference"):
        _checked("    a#cn_k1_c8\n    one_c4:a#", templates=t)
    with pytest.raises(NetcError, match="a layer block takes one input"):
        _checked("    a#cn_k1_c8\n    cn_k1_c4:a#:a#")


def test_select_later_in_a_stack_and_layer_with_input():
    m = _checked("    a#cn_k3_c4\n    cn_k3_c6\n    select:a#\n    b2#cn_k1_c5\n    cn_k1_c3:a#")
    c = _nodes(m, Prim.CONV)
    assert c[2].inputs[0] is c[0].out and c[3].inputs[0] is c[0].out and m.graph.outputs[0][1].channels == 3


def test_fixc_keeps_a_classifier_under_width():
    m = check_spec("width 0.5\ninput x# 8x8x3\nb#:\n    select:x#\n    cn_k3_c64\n    cn_k1_c1000_fixc\n"
                   "output b#\n")
    a, b = _nodes(m, Prim.CONV)
    assert a.out.channels == 32 and b.out.channels == 1000


def test_gelu_activation_is_exact():
    m = _checked("    act_nge", size="1x1x4")
    x = np.array([[[[-1.0, 0.0, 0.5, 2.0]]]], np.float32)
    y = interp.run(m.graph, init_weights(m.graph), {"x": x}, dtype=np.float64)["b"]
    np.testing.assert_allclose(y[0, 0, 0], [-0.15865525393145707, 0.0, 0.34573123063700656, 1.9544997361036416],
                               atol=1e-12)   # x * Phi(x), from tables
