"""Parity of smlab's image models with torchvision 0.26 (and, for the CIFAR ResNets, with a
reference PyTorch implementation of He et al. 2016 written here).

For each model: build the reference in Python with seeded random weights and randomised
BatchNorm affine parameters and running statistics, compute its eval-mode logits on a random
input, and save its parameters and buffers as TorchScript (resnet18: the traced torchvision
model itself; the others: a scripted carrier module with the same names, which is much quicker
to write and load). One run of smlab_parity_probe (tests/tools/parity_probe.cpp) then builds
each smlab model by name, imports the weights by name (strictly) and writes its eval-mode
logits. Asserts: parameter counts equal the reference's exactly, and
max |smlab - reference| / max |reference| <= 1e-5 in float32 on CPU. Strict import must also
reject weights of another architecture.

Run by CTest with SMLAB_PARITY_PROBE set; exits 77 (skipped) when it is unset or torchvision
cannot be imported, 1 on any failure. Prints the parameter counts and errors at the end.
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


class _Carrier(nn.Module):
    """Holds a model's parameters and buffers under the same names, with a trivial forward,
    so that the TorchScript file is quick to write and to load (no graph of the model)."""

    def forward(self, x):
        return x


def weights_carrier(model):
    c = _Carrier()
    for name, p in model.named_parameters(recurse=False):
        c.register_parameter(name, p)
    for name, b in model.named_buffers(recurse=False):
        c.register_buffer(name, b)
    for name, child in model.named_children():
        c.add_module(name, weights_carrier(child))
    return c


# key -> (smlab model, reference factory, input shape, classes, model options, expected
#         reference parameter count or None, save the traced model itself (else a carrier))
CASES = {
    # The full traced torchvision graph: what a user exporting torchvision would produce.
    "resnet18": ("resnet18", lambda: torchvision.models.resnet18(), (2, 3, 224, 224), 1000, (), 11_689_512, True),
    "resnet50": ("resnet50", lambda: torchvision.models.resnet50(), (2, 3, 96, 96), 1000, (), 25_557_032, False),
    "resnext50_32x4d": ("resnext50_32x4d", lambda: torchvision.models.resnext50_32x4d(), (1, 3, 64, 64), 1000, (),
                        25_028_904, False),
    # 64x64 leaves 2x2 maps that the adaptive pool expands to 7x7.
    "vgg11_bn": ("vgg11_bn", lambda: torchvision.models.vgg11_bn(), (2, 3, 64, 64), 1000, (), 132_868_840, False),
    "mobilenet_v2": ("mobilenet_v2", lambda: torchvision.models.mobilenet_v2(), (2, 3, 128, 128), 1000, (),
                     3_504_872, False),
    "densenet121": ("densenet121", lambda: torchvision.models.densenet121(), (2, 3, 96, 96), 1000, (), 7_978_856,
                    False),
    "efficientnet_b0": ("efficientnet_b0", lambda: torchvision.models.efficientnet_b0(), (2, 3, 128, 128), 1000, (),
                        5_288_548, False),
    # The remaining torchvision variants, on small inputs to keep the test quick.
    "resnet34": ("resnet34", lambda: torchvision.models.resnet34(), (1, 3, 64, 64), 1000, (), 21_797_672, False),
    "resnet101": ("resnet101", lambda: torchvision.models.resnet101(), (1, 3, 32, 32), 1000, (), 44_549_160, False),
    "resnet152": ("resnet152", lambda: torchvision.models.resnet152(), (1, 3, 32, 32), 1000, (), 60_192_808, False),
    "wide_resnet50_2": ("wide_resnet50_2", lambda: torchvision.models.wide_resnet50_2(), (1, 3, 32, 32), 1000, (),
                        68_883_240, False),
    "vgg16_bn": ("vgg16_bn", lambda: torchvision.models.vgg16_bn(), (1, 3, 32, 32), 1000, (), 138_365_992, False),
    # CIFAR ResNets against the reference above; option A is the paper's (0.27M for ResNet-20).
    "resnet20": ("resnet20", lambda: CifarResNet(20), (2, 3, 32, 32), 10, (), 269_722, False),
    "resnet20 shortcut=B": ("resnet20", lambda: CifarResNet(20, option="B"), (2, 3, 32, 32), 10, ("shortcut=B",),
                            272_474, False),
    "resnet32": ("resnet32", lambda: CifarResNet(32), (1, 3, 32, 32), 10, (), None, False),
    "resnet44": ("resnet44", lambda: CifarResNet(44), (1, 3, 32, 32), 10, (), None, False),
    "resnet56": ("resnet56", lambda: CifarResNet(56), (1, 3, 32, 32), 10, (), None, False),
    "resnet110": ("resnet110", lambda: CifarResNet(110), (1, 3, 32, 32), 10, (), None, False),
}

# Jobs that must fail: torchvision resnet18 weights imported (strictly) into resnet34, and
# 1000-class weights into a 10-class resnet18.
BAD_CASES = {
    "resnet34 <- resnet18": ("resnet34", "resnet18", 1000, "missing from the file"),
    "resnet18/10 <- resnet18": ("resnet18", "resnet18", 10, "shape mismatch"),
}


class TorchvisionParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="smlab_parity_")
        tmp = cls._tmp.name
        cls.expected, cls.ref_params, jobs = {}, {}, []
        for i, (key, (model, factory, shape, classes, options, _, full)) in enumerate(CASES.items()):
            torch.manual_seed(i)
            ref = randomize(factory(), 1000 + i).eval()
            x = torch.randn(*shape)
            with torch.no_grad():
                cls.expected[key] = ref(x)
                saved = torch.jit.trace(ref, x, check_trace=False) if full else torch.jit.script(weights_carrier(ref))
            cls.ref_params[key] = param_count(ref)
            weights, inp, out = (os.path.join(tmp, f"{i}.{ext}") for ext in ("pt", "in.bin", "out.bin"))
            saved.save(weights)
            x.contiguous().numpy().astype("<f4").tofile(inp)
            jobs.append((key, [model, str(classes), inp, ",".join(map(str, shape)), out, weights, *options]))
            del ref, saved
        for key, (model, source, classes, _) in BAD_CASES.items():
            src = jobs[list(CASES).index(source)][1]
            jobs.append((key, [model, str(classes), *src[2:4], os.path.join(tmp, "bad.out.bin"), src[5]]))
        manifest = os.path.join(tmp, "jobs.tsv")
        with open(manifest, "w") as f:
            f.writelines("\t".join(fields) + "\n" for _, fields in jobs)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        proc = subprocess.run([PROBE, "--batch", manifest], capture_output=True, text=True, timeout=600, env=env)
        lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
        if len(lines) != len(jobs):
            raise AssertionError(f"probe answered {len(lines)} of {len(jobs)} jobs (rc {proc.returncode})\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        cls.answers = {key: ans for (key, _), ans in zip(jobs, lines)}
        cls.outputs = {key: fields[4] for key, fields in jobs}

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def check(self, key):
        ans, expected = self.answers[key], self.expected[key]
        self.assertNotIn("error", ans, f"{key}: probe failed: {ans.get('error')}")
        want = self.ref_params[key]
        if CASES[key][5] is not None:
            self.assertEqual(want, CASES[key][5], f"{key}: reference parameter count")
        self.assertEqual(ans["param_count"], want, f"{key}: parameter count differs from the reference")
        self.assertEqual(ans["output_shape"], list(expected.shape))
        got = torch.from_numpy(np.fromfile(self.outputs[key], dtype="<f4")).reshape(expected.shape)
        self.assertTrue(torch.isfinite(expected).all(), f"{key}: reference logits not finite")
        scale = expected.abs().max().item()
        self.assertGreater(scale, 0.0)
        rel = (got - expected).abs().max().item() / scale
        RESULTS[key] = (want, rel)
        self.assertLessEqual(rel, TOL, f"{key}: max relative error {rel:.3e} > {TOL}")

    def test_resnet18(self):
        self.check("resnet18")

    def test_resnet50(self):
        self.check("resnet50")

    def test_resnext50_32x4d(self):
        self.check("resnext50_32x4d")

    def test_vgg11_bn(self):
        self.check("vgg11_bn")

    def test_mobilenet_v2(self):
        self.check("mobilenet_v2")

    def test_densenet121(self):
        self.check("densenet121")

    def test_efficientnet_b0(self):
        self.check("efficientnet_b0")

    def test_other_torchvision_variants(self):
        for key in ("resnet34", "resnet101", "resnet152", "wide_resnet50_2", "vgg16_bn"):
            with self.subTest(model=key):
                self.check(key)

    def test_cifar_resnet20(self):
        # He et al. 2016, Table 6: ResNet-20 has 0.27M parameters.
        self.assertEqual(round(self.ref_params["resnet20"] / 1e6, 2), 0.27)
        self.check("resnet20")

    def test_cifar_resnet20_option_b(self):
        self.check("resnet20 shortcut=B")

    def test_cifar_resnet_depths(self):
        # Paper, Table 6: 0.46M, 0.66M, 0.85M, 1.7M.
        for depth, millions, digits in ((32, 0.46, 2), (44, 0.66, 2), (56, 0.85, 2), (110, 1.7, 1)):
            with self.subTest(depth=depth):
                self.assertEqual(round(self.ref_params[f"resnet{depth}"] / 1e6, digits), millions)
                self.check(f"resnet{depth}")

    def test_strict_import_rejects_other_models(self):
        for key, (_, _, _, fragment) in BAD_CASES.items():
            with self.subTest(key=key):
                self.assertIn("error", self.answers[key], f"{key}: import should have failed")
                self.assertIn(fragment, self.answers[key]["error"])


if __name__ == "__main__":
    if not PROBE:
        print("skipping: SMLAB_PARITY_PROBE is not set")
        sys.exit(77)
    # One thread on each side: the test runs beside others under CTest, and OpenMP threads that
    # spin on a busy machine are far slower than one.
    torch.set_num_threads(1)
    prog = unittest.main(exit=False, verbosity=2)
    for k, (n, rel) in sorted(RESULTS.items()):
        print(f"parity {k:24s} params {n:>11,d}  max_rel_err {rel:.3e}")
    sys.exit(0 if prog.result.wasSuccessful() else 1)
