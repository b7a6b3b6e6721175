"""The PyTorch backend: model.py + model.safetensors, .pt2, to_torch(); it trains, its gradients are right, it
runs without netc, its bytes are deterministic, and `netc check` has its column.

Numerics against the float64 interpreter for every block type: tests/test_backend_conformance.py.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from netc.cli import main  # noqa: E402
from netc.compiler import compile  # noqa: E402

SPECS = os.path.join(os.path.dirname(__file__), "..", "specs")

SMALL = """input img#norm1 16x16x3
backbone#:
    select:img#
    cn_bn_r1_k3_s2_c8_nhs
    ir_r1_k3_s2_e3_c16_se4_nre
    c3#ir_r2_k5_s1_e2_c16_nhs
head#:
    select:c3#
    gap
    fc_c5
output head#
"""

# runs a script with netc unimportable: a fresh interpreter (-I: no PYTHONPATH, no user site) whose finder
# refuses every `netc` module, as on a machine where only torch is installed
NO_NETC = ("import runpy, sys\n"
           "class Block:\n"
           "    def find_spec(self, name, path=None, target=None):\n"
           "        if name.split('.')[0] == 'netc':\n"
           "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
           "sys.meta_path.insert(0, Block())\n"
           "script = sys.argv.pop(1)\n"
           "runpy.run_path(script, run_name='__main__')\n"
           "assert not [m for m in sys.modules if m.split('.')[0] == 'netc']\n")


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


def _spec(tmp_path, text=SMALL, name="small.net"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_model_py_imports_only_torch_and_runs_without_netc(tmp_path, capsys):
    spec = _spec(tmp_path)
    out = tmp_path / "model.py"
    code, _, err = run(capsys, "build", spec, "-o", str(out))
    assert code == 0, err
    assert (tmp_path / "model.safetensors").exists()
    tree = ast.parse(out.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"json", "pathlib", "torch"}
    # its own smoke test (build(): the weights beside it; a batch of 2 zeros) in a fresh interpreter
    proc = subprocess.run([sys.executable, "-I", "-c", NO_NETC, str(out)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["(2,", "5)"]


def test_module_reads_like_the_spec(tmp_path):
    """Submodules named after stacks, blocks and layers; a comment at each spec line; TF SAME's one-sided pad
    exactly where the pads differ (stride 2 on even sizes: 16 -> 8 pads 0 before, 1 after)."""
    model = compile(_spec(tmp_path))
    src = model.artifact("torch")
    code = src.code
    assert "self.backbone.layer_0.conv = nn.Conv2d(3, 8, 3, stride=2, bias=False)" in code
    assert "self.backbone.c3 = nn.Module()" in code and "self.head.layer_0" not in code   # gap: no layer
    assert f"# {tmp_path / 'small.net'}:4:5: cn_bn_r1_k3_s2_c8_nhs" in code
    assert "self.backbone.layer_0.conv(F.pad(norm1, (0, 1, 0, 1)))" in code          # asymmetric: explicit
    assert "c3.depthwise_conv = nn.Conv2d(32, 32, 5, padding=2, groups=32, bias=False)" in code   # 16 x e2; pads 2, 2
    assert "layer_0.bn = nn.BatchNorm2d(8, eps=0.001, momentum=0.001)" in code        # cn: Keras 0.999
    assert "layer_1.expansion_bn = nn.BatchNorm2d(24, eps=0.001, momentum=0.01)" in code   # ir: Keras 0.99
    names = dict(model.to_torch().named_modules())
    assert {"backbone.c3", "backbone.c3.expansion_conv", "head.layer_1.dense"} <= set(names)


def test_same_spec_same_seed_same_bytes(tmp_path, capsys):
    spec = _spec(tmp_path)
    outs = []
    for k, seed in enumerate(("0", "0", "1")):
        out = tmp_path / f"m{k}.py"
        assert run(capsys, "build", spec, "-o", str(out), "--seed", seed)[0] == 0
        outs.append((out.read_text(), (tmp_path / f"m{k}.safetensors").read_bytes()))
    assert outs[0] == outs[1]
    assert outs[0][0] == outs[2][0] and outs[0][1] != outs[2][1]   # the code is the same, the weights not


def test_safetensors_loads_with_the_safetensors_library(tmp_path, capsys):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    spec = _spec(tmp_path)
    assert run(capsys, "build", spec, "-o", str(tmp_path / "model.py"))[0] == 0
    tensors = safetensors_torch.load_file(str(tmp_path / "model.safetensors"))
    model = compile(spec).to_torch()
    state = model.state_dict()
    assert set(tensors) == set(state)
    for k, v in state.items():
        assert torch.equal(tensors[k], v), k
    model.load_state_dict(tensors)   # strict: every parameter and buffer


def test_to_torch_matches_the_interpreter_and_nhwc_io(tmp_path):
    from netc.ir import interp
    model = compile(_spec(tmp_path), randomize=True)
    x = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    ref = interp.run(model.graph, model.weights, {"img": x}, dtype=np.float64)["head"]
    with torch.no_grad():
        nchw = model.to_torch().eval()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        nhwc = model.to_torch(io_layout="nhwc").eval()(torch.from_numpy(x)).numpy()
    assert np.abs(nchw - ref).max() / np.abs(ref).max() < 1e-5
    assert np.abs(nhwc - nchw).max() / np.abs(nchw).max() < 1e-6   # other memory order, other kernels


def test_training_steps_lower_the_loss(tmp_path):
    torch.manual_seed(0)
    model = compile(_spec(tmp_path), seed=3).to_torch()
    assert model.training and any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    x = torch.rand(16, 3, 16, 16) * 255
    y = torch.randint(0, 5, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_gradients_match_finite_differences(tmp_path):
    """torch.autograd.gradcheck in float64 through every layer kind of the small spec (one-sided pads, SE, BN
    in eval mode), with respect to the input and to the weights of the first convolution."""
    text = SMALL.replace("16x16x3", "6x6x3").replace("r2_k5", "r1_k3")
    model = compile(_spec(tmp_path, text), randomize=True).to_torch().double().eval()
    x = torch.rand(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: model(t), (x,), eps=1e-6, atol=1e-5, fast_mode=True)
    w = model.backbone.layer_0.conv.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda k: torch.func.functional_call(
        model, {"backbone.layer_0.conv.weight": k}, (x.detach(),)), (w,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.tf
def test_batchnorm_momentum_matches_keras_training(tmp_path):
    """One training step of each framework on the same batch moves the running mean the same way (the
    variance differs by n / (n - 1): Keras keeps the biased batch variance, PyTorch the unbiased one)."""
    pytest.importorskip("tensorflow")
    text = "input x# 4x4x3\nb#:\n    select:x#\n    cn_bn_k1_c4_mom0.9\noutput b#\n"
    model = compile(_spec(tmp_path, text), randomize=True)
    x = np.random.default_rng(0).normal(3.0, 2.0, (8, 4, 4, 3)).astype(np.float32)
    keras_model = model.to_keras()
    keras_model(x, training=True)
    bn = next(layer for layer in keras_model.layers if "bn" in layer.name)
    keras_mean = np.asarray(bn.moving_mean)
    tm = model.to_torch()
    tm(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    torch_bn = next(m for m in tm.modules() if isinstance(m, torch.nn.BatchNorm2d))
    np.testing.assert_allclose(torch_bn.running_mean.detach().numpy(), keras_mean, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_pt2_runs_with_torch_export_load_alone(tmp_path, capsys):
    """A `?x?` spec exported with dynamic batch, height and width; loaded in a fresh interpreter without netc."""
    text = SMALL.replace("16x16x3", "?x?x3")
    spec = _spec(tmp_path, text)
    out = tmp_path / "model.pt2"
    code, _, err = run(capsys, "build", spec, "-o", str(out), "--seed", "2")
    assert code == 0, err
    first = out.read_bytes()
    assert run(capsys, "build", spec, "-o", str(out), "--seed", "2")[0] == 0
    assert out.read_bytes() == first
    model = compile(spec, seed=2).to_torch().eval()
    x = torch.rand(3, 3, 20, 24) * 255
    with torch.no_grad():
        expected = model(x)
    torch.save({"x": x, "y": expected}, tmp_path / "io.pt")
    script = tmp_path / "run.py"
    script.write_text("import torch\n"
                      f"io = torch.load({str(tmp_path / 'io.pt')!r})\n"
                      f"program = torch.export.load({str(out)!r})\n"
                      "got = program.module()(io['x'])\n"
                      "assert torch.allclose(got, io['y'], rtol=1e-5, atol=1e-6), (got - io['y']).abs().max()\n"
                      "assert program.module()(io['x'][:1]).shape == (1, 5)\n")
    proc = subprocess.run([sys.executable, "-I", "-c", NO_NETC, str(script)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_wrong_suffix_and_missing_torch_are_user_errors(tmp_path, capsys):
    spec = _spec(tmp_path)
    code, _, err = run(capsys, "build", spec, "-o", str(tmp_path / "m.txt"), "--format", "torch")
    assert code == 2 and "is a `.py` file" in err
    code, _, err = run(capsys, "build", spec, "-o", str(tmp_path / "m.keras"), "--io-layout", "nhwc")
    assert code == 2 and "`--io-layout` does not apply to the keras backend" in err
    code, _, err = run(capsys, "build", spec, "-o", str(tmp_path / "m.py"), "--via", "tf2onnx")
    assert code == 2 and "`--via tf2onnx` produces onnx" in err
    blocker = NO_NETC.replace("== 'netc'", "== 'torch'").replace(
        "runpy.run_path(script, run_name='__main__')\n", "from netc.cli import main\nmain(sys.argv[1:])\n")
    blocker = blocker.replace("script = sys.argv.pop(1)\n", "").replace(
        "assert not [m for m in sys.modules if m.split('.')[0] == 'netc']\n", "")
    proc = subprocess.run([sys.executable, "-c", blocker, "build", spec, "-o", str(tmp_path / "m.py")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.path.dirname(SPECS)})
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'netc[torch]'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.py").exists() and not (tmp_path / "m.safetensors").exists()


# ----------------------------------------------------------------------------- every spec
SPEC_FILES = sorted(os.path.relpath(os.path.join(d, f), SPECS) for d, _, fs in os.walk(SPECS) for f in fs
                    if f.endswith(".net"))
# In `make test` the every-spec checks (test_artifacts, test_classifiers, test_spinenet) carry the torch column
# (conftest.assert_torch_column): the shipped specs' own checks judge it. Here, three specs that cover every
# block kind of the shipped specs (SE, hard-swish, RepVGG branches, SpineNet's resampling and spfuse) have their
# .pt2 program compared with the module; NETC_TORCH_ALL_SPECS=1 also runs `netc check` on every spec file at a
# reduced size here (specs/torchvision and specs/zoo included; docs/torch.md has the figures of such a run).
CI_SPECS = ["mobilenet_v3.net", "repvgg_a0.net", "spinenet49s.net"]
ALL_SPECS = bool(os.environ.get("NETC_TORCH_ALL_SPECS"))
CHECKED_SPECS = SPEC_FILES if ALL_SPECS else [s for s in SPEC_FILES if s in CI_SPECS]


def _reduced(name: str, tmp_path) -> str:
    """The spec with its inputs at the smallest of 64, 96, 128 px its blocks accept (the classifiers' 7x7
    pools need 224), so that CI checks it in seconds."""
    import re

    from netc.compiler import check_spec
    from netc.diagnostics import NetcError
    text = open(os.path.join(SPECS, name)).read()
    for size in (64, 96, 128):
        small = re.sub(r"(?m)^(input\s+\S+\s+)\d+x\d+x(\d+)", rf"\g<1>{size}x{size}x\2", text)
        try:
            check_spec(small)
        except NetcError:
            continue
        text = small
        break
    out = tmp_path / os.path.basename(name)
    out.write_text(text)
    return str(out)


if ALL_SPECS:
    @pytest.mark.slow
    @pytest.mark.tf
    @pytest.mark.parametrize("name", SPEC_FILES)
    def test_every_spec_has_a_torch_column_within_tolerance(name, tmp_path):
        """`netc check` at reduced sizes: its torch column runs the written model.py + model.safetensors,
        within the same tolerance as the ONNX columns."""
        pytest.importorskip("tensorflow")
        from netc.check import run_check
        report = run_check(_reduced(name, tmp_path))
        assert "torch (cpu)" in report["columns"]
        torch_norms = [row["results"]["torch (cpu)"] for row in report["rows"]]
        assert all(r["ok"] for r in torch_norms), ([r["norm"] for r in torch_norms], report["tolerance"])


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKED_SPECS)
def test_pt2_program_agrees_with_its_module(name, tmp_path):
    """The .pt2 program torch.export makes of a spec's module computes what the module computes."""
    model = compile(_reduced(name, tmp_path))
    from netc.backends.torch_backend import example_inputs, export_program
    src = model.artifact("torch")
    program = export_program(src)
    xs = [x.uniform_(0, 255) for x in example_inputs(src, batch=1)]
    module = model.to_torch().eval()
    with torch.no_grad():
        want, got = module(*xs), program.module()(*xs)
    want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
    for w, g in zip(want, got):
        assert torch.allclose(w, g, rtol=1e-5, atol=1e-5 * float(w.abs().max()))
