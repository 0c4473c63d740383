"""Parity of smlab's image models with torchvision 0.26 (and, for the CIFAR ResNets, with a
reference PyTorch implementation of He et al. 2016 written here).

For each model: build the reference in Python with seeded random weights and randomised
BatchNorm affine parameters and running statistics, trace it in eval mode and save it as
TorchScript; save a random input; run smlab_parity_probe (tests/tools/parity_probe.cpp), which
builds the smlab model by name, imports the weights by name (strictly) and writes its eval-mode
logits. Asserts: parameter counts equal the reference's exactly, and
max |smlab - reference| / max |reference| <= 1e-5 in float32 on CPU.

Run by CTest with SMLAB_PARITY_PROBE set; exits 77 (skipped) when it is unset or torchvision
cannot be imported, 1 on any failure. Set SMLAB_PARITY_VERBOSE=1 to print the numbers.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

PROBE = os.environ.get("SMLAB_PARITY_PROBE", "")

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

TOL = 1e-5
RESULTS = {}


# --- reference CIFAR ResNet (He et al. 2016, section 4.2), independent of the C++ code ---
class CifarBlock(nn.Module):
    def __init__(self, inp, planes, stride, option):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.pad = stride, planes - inp
        self.reshape = stride != 1 or inp != planes
        self.downsample = None
        if self.reshape and option == "B":
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.downsample is not None:
            sc = self.downsample(x)
        elif self.reshape:  # option A: subsample, zero-pad the new channels
            sc = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        else:
            sc = x
        return F.relu(out + sc)


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10, option="A"):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        inp = 16
        for i, planes in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(CifarBlock(inp, planes, 2 if (b == 0 and i > 0) else 1, option))
                inp = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(h.mean((2, 3)))


def randomize(model, seed):
    """Non-trivial weights everywhere: BatchNorm affine parameters and running statistics
    are drawn at random so that a swapped or missing buffer changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def run_probe(tmp, name, ref, shape, classes, overrides=(), seed=0):
    """Saves `ref` (traced) and an input, runs the probe, returns (probe json, smlab logits, ref logits)."""
    torch.manual_seed(seed)
    ref = randomize(ref, seed + 1).eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        expected = ref(x)
        traced = torch.jit.trace(ref, x, check_trace=False)
    weights = os.path.join(tmp, f"{name}.pt")
    traced.save(weights)
    inp, out = os.path.join(tmp, f"{name}.in.bin"), os.path.join(tmp, f"{name}.out.bin")
    x.contiguous().numpy().astype("<f4").tofile(inp)
    cmd = [PROBE, name, str(classes), inp, ",".join(map(str, shape)), out, weights, *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"probe failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    got = torch.from_numpy(np.fromfile(out, dtype="<f4")).reshape(expected.shape)
    return info, got, expected


class TorchvisionParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="smlab_parity_")
        cls.tmp = cls._tmp.name

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def check(self, name, ref, shape, classes=1000, overrides=(), expect_params=None):
        info, got, expected = run_probe(self.tmp, name, ref, shape, classes, overrides)
        want = param_count(ref)
        if expect_params is not None:
            self.assertEqual(want, expect_params, f"{name}: reference parameter count")
        self.assertEqual(info["param_count"], want, f"{name}: parameter count differs from the reference")
        self.assertEqual(list(got.shape), list(expected.shape))
        self.assertTrue(torch.isfinite(expected).all(), f"{name}: reference logits not finite")
        scale = expected.abs().max().item()
        self.assertGreater(scale, 0.0)
        rel = (got - expected).abs().max().item() / scale
        RESULTS[name + ("" if not overrides else " " + " ".join(overrides))] = (want, rel)
        self.assertLessEqual(rel, TOL, f"{name}: max relative error {rel:.3e} > {TOL}")

    def test_resnet18(self):
        self.check("resnet18", torchvision.models.resnet18(), (2, 3, 224, 224))

    def test_resnet50(self):
        self.check("resnet50", torchvision.models.resnet50(), (2, 3, 96, 96), expect_params=25_557_032)

    def test_resnext50_32x4d(self):
        self.check("resnext50_32x4d", torchvision.models.resnext50_32x4d(), (1, 3, 64, 64))

    def test_vgg11_bn(self):
        # 64x64 leaves 2x2 maps that the adaptive pool expands to 7x7.
        self.check("vgg11_bn", torchvision.models.vgg11_bn(), (2, 3, 64, 64))

    def test_mobilenet_v2(self):
        self.check("mobilenet_v2", torchvision.models.mobilenet_v2(), (2, 3, 128, 128), expect_params=3_504_872)

    def test_densenet121(self):
        self.check("densenet121", torchvision.models.densenet121(), (2, 3, 96, 96), expect_params=7_978_856)

    def test_efficientnet_b0(self):
        self.check("efficientnet_b0", torchvision.models.efficientnet_b0(), (2, 3, 128, 128), expect_params=5_288_548)

    def test_cifar_resnet20(self):
        # He et al. 2016, Table 6: ResNet-20 has 0.27M parameters (option A shortcuts).
        ref = CifarResNet(20)
        self.assertEqual(round(param_count(ref) / 1e6, 2), 0.27)
        self.check("resnet20", ref, (2, 3, 32, 32), classes=10)

    def test_cifar_resnet20_option_b(self):
        self.check("resnet20", CifarResNet(20, option="B"), (2, 3, 32, 32), classes=10, overrides=("shortcut=B",))

    def test_cifar_resnet_param_counts(self):
        # Paper, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
        paper = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}
        for depth, millions in paper.items():
            with self.subTest(depth=depth):
                ref = CifarResNet(depth)
                digits = 1 if depth == 110 else 2
                self.assertEqual(round(param_count(ref) / 1e6, digits), millions)
                self.check(f"resnet{depth}", ref, (1, 3, 32, 32), classes=10)


if __name__ == "__main__":
    if not PROBE:
        print("skipping: SMLAB_PARITY_PROBE is not set")
        sys.exit(77)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    prog = unittest.main(exit=False, verbosity=2)
    for k, (n, rel) in sorted(RESULTS.items()):
        print(f"parity {k:24s} params {n:>11,d}  max_rel_err {rel:.3e}")
    sys.exit(0 if prog.result.wasSuccessful() else 1)
