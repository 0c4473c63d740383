"""Parity of smlab's video models with torchvision 0.26 `models.video` (r3d_18, mc3_18,
r2plus1d_18) and with reference PyTorch implementations written here, independently of the C++
code, of C3D (Tran et al. 2015, in the layout of the common PyTorch port of its Sports-1M
weights) and of the 3D ResNeXt of Hara et al. 2018 (their 3D-ResNets-PyTorch layout).

As test_torchvision_parity.py (the machinery is parity_common.py): seeded random weights and
randomised BatchNorm statistics, eval-mode logits on one random clip [N, C, T, H, W], the weights
imported by name (strictly) into the smlab model built by name, and then: parameter counts equal
the reference's exactly, and max |smlab - reference| / max |reference| <= 1e-5 in float32 on
CPU, where the reference's output must move by more than 100x that tolerance on another input
(so that the check can see the convolutions). Strict import must reject weights of another video
architecture.

Exits 77 (skipped) when SMLAB_PARITY_PROBE is unset or torchvision cannot be imported.
"""
import math
import sys
import unittest

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision.models.video as tvv

    import parity_common
    from parity_common import ParityChecks, ParityRun
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)


# --- reference C3D (Tran et al. 2015) ---------------------------------------------------------
class C3D(nn.Module):
    """conv1..conv5b (3x3x3, bias), pool1 1x2x2, pool2..pool5 2x2x2 (pool5 with spatial padding 1),
    fc6/fc7 4096 with dropout, fc8. For clips shorter than 16 frames a pool whose temporal window
    would exceed the frames left pools only spatially; fc6's width is found by running the conv
    stack on an empty clip of the configured size."""

    def __init__(self, num_classes=487, clip=(16, 112, 112), in_channels=3, width=64, fc=4096):
        super().__init__()
        w = width
        plan = [("conv1", w, 1), ("conv2", 2 * w, 2), ("conv3a", 4 * w, 0), ("conv3b", 4 * w, 2),
                ("conv4a", 8 * w, 0), ("conv4b", 8 * w, 2), ("conv5a", 8 * w, 0), ("conv5b", 8 * w, 5)]
        self.plan = plan
        c = in_channels
        for name, out, _ in plan:
            setattr(self, name, nn.Conv3d(c, out, kernel_size=3, padding=1))
            c = out
        self.clip = clip
        with torch.no_grad():
            n = self.features(torch.zeros(1, in_channels, *clip)).numel()
        self.fc6 = nn.Linear(n, fc)
        self.fc7 = nn.Linear(fc, fc)
        self.fc8 = nn.Linear(fc, num_classes)
        self.dropout = nn.Dropout(0.5)

    def features(self, x):
        for name, _, pool in self.plan:
            x = F.relu(getattr(self, name)(x))
            if pool:
                kt = 1 if pool == 1 or x.shape[2] < 2 else 2
                x = F.max_pool3d(x, (kt, 2, 2), (kt, 2, 2), (0, 1, 1) if pool == 5 else 0)
        return x

    def forward(self, x):
        h = self.dropout(F.relu(self.fc6(self.features(x).flatten(1))))
        h = self.dropout(F.relu(self.fc7(h)))
        return self.fc8(h)


def he_init(model):
    """He-normal weights (fan_in, ReLU gain): without BatchNorm, PyTorch's default init shrinks
    the signal through C3D's ten layers until the biases alone decide the logits."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return model


# --- reference 3D ResNeXt (Hara et al. 2018, shortcut B) -------------------------------------
class ResNeXtBottleneck(nn.Module):
    expansion = 2

    def __init__(self, inplanes, planes, cardinality, stride=1, downsample=None):
        super().__init__()
        mid = cardinality * planes // 32
        self.conv1 = nn.Conv3d(inplanes, mid, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, kernel_size=3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(out + res)


class ResNeXt3D(nn.Module):
    def __init__(self, layers, sample_size, sample_duration, cardinality=32, num_classes=400):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv3d(3, 64, kernel_size=7, stride=(1, 2, 2), padding=(3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=(3, 3, 3), stride=2, padding=1)
        self.layer1 = self._make_layer(128, layers[0], cardinality)
        self.layer2 = self._make_layer(256, layers[1], cardinality, stride=2)
        self.layer3 = self._make_layer(512, layers[2], cardinality, stride=2)
        self.layer4 = self._make_layer(1024, layers[3], cardinality, stride=2)
        # The reference's fixed pool, sized for the clip.
        last_duration = int(math.ceil(sample_duration / 16))
        last_size = int(math.ceil(sample_size / 32))
        self.avgpool = nn.AvgPool3d((last_duration, last_size, last_size), stride=1)
        self.fc = nn.Linear(cardinality * 32 * ResNeXtBottleneck.expansion, num_classes)

    def _make_layer(self, planes, blocks, cardinality, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * ResNeXtBottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes * ResNeXtBottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(planes * ResNeXtBottleneck.expansion))
        layers = [ResNeXtBottleneck(self.inplanes, planes, cardinality, stride, downsample)]
        self.inplanes = planes * ResNeXtBottleneck.expansion
        layers += [ResNeXtBottleneck(self.inplanes, planes, cardinality) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


# key -> (smlab model, reference factory, clip shape, classes, model options, expected reference
#         parameter count or None, save the traced model itself (else a carrier)).
# Parameter counts of torchvision's model cards (400 Kinetics classes).
CASES = {
    "r3d_18": ("r3d_18", lambda: tvv.r3d_18(), (1, 3, 8, 112, 112), 400, (), 33_371_472, True),
    "mc3_18": ("mc3_18", lambda: tvv.mc3_18(), (1, 3, 8, 112, 112), 400, (), 11_695_440, False),
    "r2plus1d_18": ("r2plus1d_18", lambda: tvv.r2plus1d_18(), (1, 3, 8, 112, 112), 400, (), 31_505_325, False),
    "r3d_18/10 batch 2": ("r3d_18", lambda: tvv.r3d_18(num_classes=10), (2, 3, 4, 56, 56), 10, (), None, False),
    # C3D as published (16x112x112 clips, 487 Sports-1M classes), and fc6 adapted to short clips.
    "c3d": ("c3d", lambda: he_init(C3D()), (1, 3, 16, 112, 112), 487, (), None, False),
    # Short clips (no temporal pool once one frame is left) and the width / fc options, kept small.
    "c3d 8x32x32": ("c3d", lambda: he_init(C3D(num_classes=10, clip=(8, 32, 32), width=16, fc=256)), (2, 3, 8, 32, 32),
                    10, ("width=16", "fc=256"), None, False),
    # Hara et al.'s fixed final pool equals smlab's adaptive one when it covers the whole map.
    "resnext3d_50": ("resnext3d_50", lambda: ResNeXt3D([3, 4, 6, 3], 32, 16), (1, 3, 16, 32, 32), 400, (), None,
                     False),
    "resnext3d_101": ("resnext3d_101", lambda: ResNeXt3D([3, 4, 23, 3], 32, 16), (1, 3, 16, 32, 32), 400, (), None,
                      False),
}

BAD_CASES = {
    "mc3_18 <- r3d_18": ("mc3_18", "r3d_18", 400, "shape mismatch"),
    "r2plus1d_18 <- r3d_18": ("r2plus1d_18", "r3d_18", 400, "missing from the file"),
}


class VideoParity(ParityChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.parity = ParityRun(CASES, BAD_CASES, sensitivity=True)

    @classmethod
    def tearDownClass(cls):
        cls.parity.cleanup()

    def test_r3d_18(self):
        self.check("r3d_18")

    def test_mc3_18(self):
        self.check("mc3_18")

    def test_r2plus1d_18(self):
        self.check("r2plus1d_18")

    def test_r3d_18_other_classes_and_batch(self):
        self.check("r3d_18/10 batch 2")

    def test_c3d_as_published(self):
        # 8 convs + fc6 (8192 inputs on 16x112x112 clips) + fc7 + fc8 with 487 classes.
        convs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
        want = sum(i * o * 27 + o for i, o in convs) + (8192 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 487 + 487)
        self.assertEqual(self.parity.ref_params["c3d"], want)
        self.check("c3d")

    def test_c3d_short_clip(self):
        self.check("c3d 8x32x32")

    def test_resnext3d(self):
        for key in ("resnext3d_50", "resnext3d_101"):
            with self.subTest(model=key):
                self.check(key)

    def test_strict_import_rejects_other_models(self):
        self.check_bad(BAD_CASES)


if __name__ == "__main__":
    sys.exit(parity_common.main(unittest))
