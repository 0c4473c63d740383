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
The machinery is shared with test_video_parity.py in parity_common.py.
"""
import sys
import unittest

try:
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    import parity_common
    from parity_common import ParityChecks, ParityRun
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)


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


class TorchvisionParity(ParityChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.parity = ParityRun(CASES, BAD_CASES)

    @classmethod
    def tearDownClass(cls):
        cls.parity.cleanup()

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
        self.assertEqual(round(self.parity.ref_params["resnet20"] / 1e6, 2), 0.27)
        self.check("resnet20")

    def test_cifar_resnet20_option_b(self):
        self.check("resnet20 shortcut=B")

    def test_cifar_resnet_depths(self):
        # Paper, Table 6: 0.46M, 0.66M, 0.85M, 1.7M.
        for depth, millions, digits in ((32, 0.46, 2), (44, 0.66, 2), (56, 0.85, 2), (110, 1.7, 1)):
            with self.subTest(depth=depth):
                self.assertEqual(round(self.parity.ref_params[f"resnet{depth}"] / 1e6, digits), millions)
                self.check(f"resnet{depth}")

    def test_strict_import_rejects_other_models(self):
        self.check_bad(BAD_CASES)


if __name__ == "__main__":
    sys.exit(parity_common.main(unittest))
