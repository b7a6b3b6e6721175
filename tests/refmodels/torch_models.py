"""torchvision / timm reference models with random weights and calibrated BNs, and their float64 twins.

Every parameter is drawn from a seed (conv and linear weights N(0, 1) / sqrt(fan_in), biases N(0, 0.1), BN
gamma U(0.5, 1.5) and beta N(0, 0.2)), not left at PyTorch's initial values, so that a weight in the wrong
slot changes the outputs. The BN statistics are then set to the mean and variance of each BN's input on a
calibration batch (a forward pass in training mode with cumulative averaging), and the last Linear is scaled
so the logits have a standard deviation of about one. The float64 twin holds the same (float32) values.
"""
from __future__ import annotations

import copy

import numpy as np

CASES = {  # netc spec (specs/torchvision/) -> (library, constructor name)
    "resnet50": ("torchvision", "resnet50"),
    "mobilenet_v2": ("torchvision", "mobilenet_v2"),
    "mobilenet_v3_large": ("torchvision", "mobilenet_v3_large"),
    "repvgg_a0": ("timm", "repvgg_a0"),
}


def construct(name: str):
    """The untrained model (weights=None)."""
    library, ctor = CASES[name]
    if library == "timm":
        import timm
        return timm.create_model(ctor, pretrained=False)
    import torchvision.models as tvm
    return getattr(tvm, ctor)(weights=None)


def reference(name: str, size: int, seed: int = 0):
    """(float32 model, float64 twin), both in eval mode, with the seed's weights and calibrated BNs."""
    import torch
    model = construct(name)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen, dtype=torch.float32) / fan_in ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen, dtype=torch.float32))
            elif isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5, generator=gen)
                mod.bias.copy_(0.2 * torch.randn(mod.bias.shape, generator=gen, dtype=torch.float32))
                mod.reset_running_stats()
                mod.momentum = None          # cumulative: the statistics of this one batch
        x = torch.randn((4, 3, size, size), generator=gen, dtype=torch.float32)   # calibration batch
        model.train()
        model(x)
        model.eval()
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.momentum = 0.1
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        scale = float(model(x).std())
        last.weight /= scale
        last.bias /= scale
    return model, copy.deepcopy(model).double().eval()


MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])   # torchvision's preprocessing


def input_cases(size: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Inputs of the kind these models take, NHWC, batch 1: zeros, standard normal, and an image (uniform
    over [0, 1]) normalised by ImageNet's mean and std (netc check's uniform 0-255 is no input for them)."""
    rng = np.random.default_rng(seed)
    shape = (1, size, size, 3)
    return [("zeros", np.zeros(shape, np.float32)), ("normal", rng.standard_normal(shape).astype(np.float32)),
            ("image", ((rng.uniform(0, 1, shape) - MEAN) / STD).astype(np.float32))]


def run(model, x_nhwc: np.ndarray) -> np.ndarray:
    """The model's logits for an NHWC batch (as netc's check draws inputs)."""
    import torch
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))).to(dtype)
        return model(x).numpy()
