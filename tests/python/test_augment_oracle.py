"""Oracle test for the augmentation ops (cuda/augment_*.cpp): the C++ ops, loaded from libsmlab.so
through torch.ops.load_library, against torchvision.transforms.v2.functional of the same torch.

The fused op is compared sample by sample with torchvision applied to the same parameters:
resized_crop (bilinear, antialias=False) -> horizontal_flip -> adjust_brightness -> adjust_contrast ->
adjust_saturation -> adjust_hue -> normalize, all on float32 images on the [0, 1] scale.

Run by CTest with SMLAB_BINARY_DIR set; exits 77 (skipped) when libsmlab.so or torchvision is missing,
1 on any failure.
"""
import os
import sys
import unittest

try:
    import torch
    from torchvision.transforms.v2 import functional as TF
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

LIB = os.path.join(os.environ.get("SMLAB_BINARY_DIR", ""), "libsmlab.so")
if not os.path.exists(LIB):
    print(f"skipping: no {LIB}")
    sys.exit(77)
torch.ops.load_library(LIB)
smlab = torch.ops.smlab

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
EPS = torch.finfo(torch.float32).eps


def tv_reference(x_nhwc, params, oh, ow):
    """torchvision v2 functional applied per sample with the op's parameters."""
    outs = []
    for n in range(x_nhwc.shape[0]):
        y0, x0, h, w, flip, b, c, s, hue = params[n].tolist()
        img = x_nhwc[n].permute(2, 0, 1).to(torch.float32) / 255.0
        img = TF.resized_crop(img, int(y0), int(x0), int(h), int(w), [oh, ow],
                              interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
        if flip:
            img = TF.horizontal_flip(img)
        img = TF.adjust_brightness(img, b)
        img = TF.adjust_contrast(img, c)
        img = TF.adjust_saturation(img, s)
        if hue != 0:
            img = TF.adjust_hue(img, hue)
        outs.append(TF.normalize(img, MEAN, STD))
    return torch.stack(outs)


class AugmentOracle(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def test_fused_matches_torchvision(self):
        for (N, H, W, oh, ow, seed) in [(16, 40, 52, 24, 24, 1), (8, 17, 13, 20, 9, 2), (4, 1, 1, 3, 3, 3)]:
            x = torch.randint(0, 256, (N, H, W, 3), dtype=torch.uint8)
            p = smlab.augment_params(N, H, W, [0.08, 1.0], [3 / 4, 4 / 3], 0.5, 0.8, 0.8, 0.8, 0.5, seed)
            got = smlab.augment_image(x, p, oh, ow, MEAN, STD)
            ref = tv_reference(x, p, oh, ow)
            # float32 pipelines with different operation orders (bilinear positions, the contrast mean, HSV
            # divisions); errors of ~1e-6 on the [0,1] scale, magnified by 1/std <= 4.5 and by the jitter
            # factors (<= 1.8 each) -> 1e-4 bounds them with margin while any formula error is >> 1e-3.
            err = (got - ref).abs().max().item()
            self.assertLess(err, 1e-4, f"N={N} {H}x{W}->{oh}x{ow}: max |smlab - torchvision| = {err}")

    def test_each_jitter_alone(self):
        x = torch.randint(0, 256, (1, 23, 31, 3), dtype=torch.uint8)
        cases = [dict(b=1.7), dict(b=0.3), dict(c=0.2), dict(c=1.9), dict(s=0.0), dict(s=1.8), dict(hue=0.37),
                 dict(hue=-0.5), dict(hue=0.5), dict(hue=0.01)]
        for case in cases:
            row = [0, 0, 23, 31, 0, case.get("b", 1), case.get("c", 1), case.get("s", 1), case.get("hue", 0)]
            p = torch.tensor([row], dtype=torch.float64)
            got = smlab.augment_image(x, p, 23, 31, MEAN, STD)
            err = (got - tv_reference(x, p, 23, 31)).abs().max().item()
            self.assertLess(err, 1e-4, f"{case}: {err}")

    def test_eval_matches_resize_center_crop(self):
        for (H, W, resize, oh, ow) in [(40, 57, 32, 28, 30), (64, 48, 56, 56, 56), (9, 9, 7, 7, 7), (1, 1, 2, 2, 2)]:
            x = torch.randint(0, 256, (3, H, W, 3), dtype=torch.uint8)
            got = smlab.augment_eval(x, resize, oh, ow, MEAN, STD)
            img = x.permute(0, 3, 1, 2).to(torch.float32) / 255.0
            img = TF.resize(img, resize, interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
            ref = TF.normalize(TF.center_crop(img, [oh, ow]), MEAN, STD)
            err = (got - ref).abs().max().item()
            self.assertLess(err, 1e-4, f"{H}x{W} resize {resize} crop {oh}x{ow}: {err}")

    def test_grayscale_blur_erase(self):
        x = torch.rand(4, 3, 19, 23)
        self.assertLess((smlab.grayscale(x, 3) - TF.rgb_to_grayscale(x, 3)).abs().max().item(), 4 * EPS)
        sig = torch.tensor([0.4, 1.0, 2.5, 5.0], dtype=torch.float64)
        got = smlab.gaussian_blur(x, sig, 9)
        for n in range(4):
            ref = TF.gaussian_blur(x[n], [9, 9], [sig[n].item(), sig[n].item()])
            self.assertLess((got[n] - ref).abs().max().item(), 1e-5, f"sigma {sig[n].item()}")
        boxes = torch.tensor([[1, 2, 5, 6], [0, 0, 0, 0], [10, 0, 9, 23], [3, 3, 1, 1]])
        got = smlab.random_erasing(x, boxes, 0.25)
        for n in range(4):
            i, j, h, w = boxes[n].tolist()
            ref = TF.erase(x[n], i, j, h, w, torch.tensor(0.25)) if h > 0 else x[n]
            self.assertTrue(torch.equal(got[n], ref), f"box {boxes[n].tolist()}")

    def test_mixup_cutmix_targets(self):
        x = torch.rand(5, 3, 8, 8)
        y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 4]), 5).float()
        lam, boxes, perm = smlab.mix_params(5, 8, 8, 1.0, 7)
        mx, my = smlab.mixup(x, y, perm, lam)
        l = lam.float().view(5, 1, 1, 1)
        self.assertLess((mx - (l * x + (1 - l) * x[perm])).abs().max().item(), 4 * EPS)
        cx, cy = smlab.cutmix(x, y, perm, boxes)
        area = (boxes[:, 2] * boxes[:, 3]).double()
        lam_c = (1 - area / 64).float().view(5, 1)
        self.assertLess((cy - (lam_c * y + (1 - lam_c) * y[perm])).abs().max().item(), 4 * EPS)


if __name__ == "__main__":
    result = unittest.main(exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
