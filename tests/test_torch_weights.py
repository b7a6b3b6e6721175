"""Issue 22: weights from PyTorch checkpoints (netc/weights/torch_reader.py, pair_torch.py).

The references are torchvision's resnet50, mobilenet_v2 and mobilenet_v3_large and timm's repvgg_a0
(weights=None, every parameter drawn from a seed, BN statistics calibrated: tests/refmodels/torch_models.py),
saved as a state_dict. netc builds specs/torchvision/ with those weights, at 64 px (the spec's input size is
the only edit), and its ONNX (onnxruntime) and Keras artifacts must reproduce the reference's float32 logits
within 3x the reference's own float32 noise (max|f32 - f64| / max|f64| against its float64 twin), never
tighter than 1e-5. Each reference is built once per module. Full-size figures: docs/torch.md.
"""
from __future__ import annotations

import pathlib
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("timm")

import netc  # noqa: E402
from netc.cli import main  # noqa: E402
from netc.diagnostics import NetcError  # noqa: E402
from refmodels import torch_models  # noqa: E402
from refmodels.precision import normalised_diff  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIZE = 64
FLOOR = 1e-5
NAMES = list(torch_models.CASES)


class Ref:
    """One reference: its float32 model and float64 twin, its .pth, and the spec at SIZE."""

    def __init__(self, name: str, tmp: pathlib.Path):
        self.name = name
        self.m32, self.m64 = torch_models.reference(name, SIZE)
        self.sd = self.m32.state_dict()
        self.pth = str(tmp / f"{name}.pth")
        torch.save(self.sd, self.pth)
        text = (ROOT / "specs" / "torchvision" / f"{name}.net").read_text()
        assert text.count("224x224x3") == 1
        self.spec = str(tmp / f"{name}_{SIZE}.net")
        pathlib.Path(self.spec).write_text(text.replace("224x224x3", f"{SIZE}x{SIZE}x3"))
        self.model = netc.compile(self.spec, weights=self.pth)
        self.cases = [(case, x, torch_models.run(self.m32, x), torch_models.run(self.m64, x))
                      for case, x in torch_models.input_cases(SIZE)]

    def safetensors(self, tmp: pathlib.Path) -> str:
        from safetensors.torch import save_file
        path = tmp / f"{self.name}.safetensors"
        if not path.exists():
            save_file({k: v.contiguous() for k, v in self.sd.items()}, str(path))
        return str(path)


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """name -> Ref, each built on first use and kept for the module."""
    tmp = tmp_path_factory.mktemp("torch_refs")
    cache: dict[str, Ref] = {}

    def get(name: str) -> Ref:
        if name not in cache:
            cache[name] = Ref(name, tmp)
        return cache[name]
    get.tmp = tmp
    return get


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def same_values(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------ the references reproduced
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_onnx_reproduces_the_reference(refs, name):
    import onnxruntime as ort
    ref = refs(name)
    notes = [d.message for d in ref.model.checked.warnings]
    assert any("paired by registration order" in n for n in notes), notes
    sess = ort.InferenceSession(ref.model.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    for case, x, y32, y64 in ref.cases:
        noise = normalised_diff(y32, y64)
        got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0]   # NCHW io
        assert normalised_diff(got, y32) <= max(FLOOR, 3 * noise), (name, case, noise)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_keras_reproduces_the_reference(refs, name):
    ref = refs(name)
    km = ref.model.to_keras()
    for case, x, y32, y64 in ref.cases:
        noise = normalised_diff(y32, y64)
        got = np.asarray(km(x, training=False))
        assert normalised_diff(got, y32) <= max(FLOOR, 3 * noise), (name, case, noise)


# ------------------------------------------------------------------ the other formats give the same arrays
@pytest.mark.slow
def test_safetensors_pairs_by_the_module_tree(refs):
    """MobileNetV3's names (features.N.block.M.K, fc1/fc2 of different shapes) allow one order."""
    ref = refs("mobilenet_v3_large")
    model = netc.compile(ref.spec, weights=ref.safetensors(refs.tmp))
    assert any("module tree" in d.message for d in model.checked.warnings)
    assert same_values(model.weights, ref.model.weights)


@pytest.mark.slow
def test_safetensors_look_alikes_are_refused_then_pinned(refs, capsys, tmp_path):
    """RepVGG's identity BN and its 3x3 branch's BN have one shape and no order in a .safetensors: refused,
    located at the block; a map written from the .pth pins every pair and gives the .pth's arrays."""
    ref = refs("repvgg_a0")
    st = ref.safetensors(refs.tmp)
    code, _, err = cli(["build", ref.spec, "--weights", st, "-o", str(tmp_path / "m.onnx")], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{ref.spec}:11:5: error:" in err and "alike" in err and "--map" in err, err
    assert not (tmp_path / "m.onnx").exists()
    map_path = str(tmp_path / "map.yaml")
    code, out, _ = cli(["weights", "match", ref.spec, "--from", ref.pth, "--write-map", map_path], capsys)
    assert code == 0 and "registration order" in out
    model = netc.compile(ref.spec, weights=st, weights_map=map_path)
    assert same_values(model.weights, ref.model.weights)


@pytest.mark.slow
def test_whole_pickled_module_is_read_without_its_code(refs, tmp_path, monkeypatch):
    """torch.save(model): the weights-only loader refuses timm's classes; netc reads the pickle with them inert
    (a class the pickle names is never imported: timm is hidden here) and gets the state_dict's arrays."""
    import sys
    ref = refs("repvgg_a0")
    path = tmp_path / "whole.pt"
    torch.save(ref.m32, path)
    for mod in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        monkeypatch.setitem(sys.modules, mod, None)      # importing timm now fails
    model = netc.compile(ref.spec, weights=str(path))
    assert any("pickled PyTorch module" in d.message for d in model.checked.warnings)
    assert same_values(model.weights, ref.model.weights)


def test_safetensors_without_the_library_reads_the_same(tmp_path):
    """netc's own reader of the format (used where `safetensors` is not installed) against the library's."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from netc.weights.torch_reader import _parse_safetensors
    rng = np.random.default_rng(0)
    tensors = {"a.weight": torch.from_numpy(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
               "a.bias": torch.arange(4, dtype=torch.float64), "b.num_batches_tracked": torch.tensor(7),
               "c.weight": torch.randn(5, dtype=torch.bfloat16)}
    path = str(tmp_path / "t.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    mine = _parse_safetensors(path)
    assert set(mine) == set(tensors)
    with safe_open(path, framework="np") as f:   # numpy has no bfloat16: the library reads the others
        for k in ("a.weight", "a.bias", "b.num_batches_tracked"):
            lib = f.get_tensor(k)
            assert mine[k].dtype == lib.dtype and np.array_equal(mine[k], lib)
    assert np.array_equal(mine["c.weight"], tensors["c.weight"].float().numpy())


# ------------------------------------------------------------------ refused: located, exit 2, nothing written
def _mobilenet_v2_small(tmp_path) -> tuple[str, OrderedDict]:
    """torchvision's mobilenet_v2 state_dict (its own initial values) and the spec at 32 px: cheap."""
    import torchvision
    sd = torchvision.models.mobilenet_v2(weights=None).state_dict()
    text = (ROOT / "specs" / "torchvision" / "mobilenet_v2.net").read_text().replace("224x224x3", "32x32x3")
    spec = tmp_path / "mnv2.net"
    spec.write_text(text)
    return str(spec), sd


def test_a_planted_swap_is_refused(tmp_path, capsys):
    """features.15 and features.16 have the same shapes: moving one's entries after the other's, or swapping
    their names in place, still lists a valid-looking state_dict; its order then contradicts its names
    (a Sequential registers 0, 1, 2...), so netc refuses it rather than pair by a wrong order."""
    spec, sd = _mobilenet_v2_small(tmp_path)
    plain = tmp_path / "plain.pth"
    torch.save(sd, plain)
    assert netc.compile(spec, weights=str(plain)).weights
    keys = list(sd)
    a = [k for k in keys if k.startswith("features.15.")]
    b = [k for k in keys if k.startswith("features.16.")]
    moved = OrderedDict((k, sd[k]) for k in keys if k not in a)
    moved = OrderedDict(list(moved.items())[:keys.index(b[-1]) - len(a) + 1] + [(k, sd[k]) for k in a]
                        + list(moved.items())[keys.index(b[-1]) - len(a) + 1:])
    renamed = OrderedDict((k.replace("features.15.", "features.X.").replace("features.16.", "features.15.")
                           .replace("features.X.", "features.16."), v) for k, v in sd.items())
    for label, planted in (("moved", moved), ("renamed", renamed)):
        assert list(planted) != keys
        path = tmp_path / f"{label}.pth"
        torch.save(planted, path)
        out = tmp_path / f"{label}.onnx"
        code, _, err = cli(["build", spec, "--weights", str(path), "-o", str(out)], capsys)
        assert code == 2 and "registration order" in err and "features.1" in err, (label, err)
        assert "Traceback" not in err and not out.exists()


def test_values_swapped_under_consistent_names_change_the_outputs(tmp_path):
    """The one swap no file can reveal (two same-shape modules' values exchanged, names and order kept) is a
    different set of weights: netc's outputs then differ from the model's, as `netc check` against the
    reference would show."""
    import onnxruntime as ort
    import torchvision
    spec, _ = _mobilenet_v2_small(tmp_path)
    ref = torchvision.models.mobilenet_v2(weights=None).eval()
    sd = ref.state_dict()
    swapped = OrderedDict(sd)
    for k in [k for k in sd if k.startswith("features.15.")]:
        other = k.replace("features.15.", "features.16.")
        swapped[k], swapped[other] = sd[other], sd[k]
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    diffs = []
    for state in (sd, swapped):
        torch.save(state, tmp_path / "w.pth")
        proto = netc.compile(spec, weights=str(tmp_path / "w.pth")).to_onnx()
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        diffs.append(normalised_diff(sess.run(None, {sess.get_inputs()[0].name: x})[0], want))
    assert diffs[0] < 1e-5 and diffs[1] > 10 * 1e-5, diffs   # 1e-5: the reproduction's tolerance floor


def test_another_models_checkpoint_is_located(tmp_path, capsys):
    """resnet18's weights for the resnet50 spec: the first op that differs, at its spec line."""
    import torchvision
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    text = (ROOT / "specs" / "torchvision" / "resnet50.net").read_text().replace("224x224x3", "32x32x3")
    spec = tmp_path / "r50.net"
    spec.write_text(text)
    code, _, err = cli(["build", str(spec), "--weights", str(path), "-o", str(tmp_path / "m.onnx")], capsys)
    # in the template's body: the first op of `tvproj` (the stem's conv and BN pair)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("cn_k1_c{m}"))
    assert code == 2 and f"{spec}:{line}:5: error:" in err, err
    assert "a 1x1 conv 64 -> 64 channels" in err and "Conv2d `layer1.0.conv1` (weight (64, 64, 3, 3))" in err
    assert "Traceback" not in err and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("suffix,damage", [(".pth", "truncate"), (".safetensors", "truncate"),
                                           (".safetensors", "header"), (".pth", "not a dict")])
def test_a_malformed_checkpoint_is_an_error_naming_the_file(tmp_path, capsys, suffix, damage):
    spec, sd = _mobilenet_v2_small(tmp_path)
    path = tmp_path / f"bad{suffix}"
    if suffix == ".pth":
        torch.save(sd if damage == "truncate" else [1, 2, 3], path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "header":
        path.write_bytes(data[:8] + b"{not json" + data[17:])
    code, _, err = cli(["build", spec, "--weights", str(path), "-o", str(tmp_path / "m.onnx")], capsys)
    assert code == 2 and "error:" in err and str(path) in err and "Traceback" not in err, err
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(NetcError):
        netc.compile(spec, weights=str(path))


@pytest.mark.slow
def test_deployed_repvgg_is_timms_reparameterised_model(refs):
    """`--deploy` fuses each `rv_..._p1` block (3x3 after its zero pad, 1x1 at the kernel's centre, identity BN)
    into one conv: netc's deployed ONNX against timm's own `reparameterize()` of the same weights."""
    import copy

    import onnxruntime as ort
    ref = refs("repvgg_a0")
    deployed = copy.deepcopy(ref.m32)
    for mod in deployed.modules():
        if hasattr(mod, "reparameterize"):
            mod.reparameterize()
    proto = ref.model.to_onnx(deploy=True)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Conv") == 22 and "Add" not in ops and "BatchNormalization" not in ops, ops
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for case, x, y32, y64 in ref.cases:
        want = torch_models.run(deployed.eval(), x)
        got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0]
        assert normalised_diff(got, want) <= max(FLOOR, 3 * normalised_diff(y32, y64)), case
