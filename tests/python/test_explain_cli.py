"""`smlab explain` end to end: a CIFAR ResNet-20 trained for one short epoch on generated gratings
(experiments/finetune/gratings_pretrain.yaml), explained from its run folder and from its exported
artifact on a folder of PNG files.

Checks: scores.json has one map per readable image at the input size and an overlay PNG each;
Grad-CAM picks the last stage (layer3) by default; integrated gradients from the run folder and from
the artifact agree (both attribute in pixel units) within 1e-4; an unknown layer lists the valid
layers, a method for another model kind lists the methods that fit, Grad-CAM on an artifact asks
for the run folder, each with exit status 2; an unreadable image is rejected, not fatal.

Exits 77 (skipped) when SMLAB_BIN is unset or Pillow is missing.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

BIN = os.environ.get("SMLAB_BIN", "")
SRC = os.environ.get("SMLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def smlab(*args, ok=True):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=900, env=env)
    if ok and p.returncode != 0:
        raise AssertionError(f"smlab {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


class ExplainCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="smlab_explain_cli_")
        t = cls.tmp = cls._tmp.name
        cls.run_dir = os.path.join(t, "run")
        smlab("train", os.path.join(SRC, "experiments/finetune/gratings_pretrain.yaml"), "--run-dir", cls.run_dir,
              "train.epochs=1", "data.train_size=200", "data.val_size=50", "data.test_size=50", "--device", "cpu")
        cls.artifact = os.path.join(t, "model.pt")
        smlab("export", cls.run_dir, "--output", cls.artifact)
        cls.imgs = os.path.join(t, "imgs")
        os.makedirs(cls.imgs)
        rng = np.random.default_rng(0)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(os.path.join(cls.imgs, f"{i}.png"))
        with open(os.path.join(cls.imgs, "broken.png"), "wb") as f:
            f.write(b"not a png")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def explain(self, model, out, *extra, ok=True):
        return smlab("explain", model, "--input", self.imgs, "--output", os.path.join(self.tmp, out), *extra, ok=ok)

    def scores(self, out):
        with open(os.path.join(self.tmp, out, "scores.json")) as f:
            return json.load(f)

    def test_grad_cam_default_layer(self):
        self.explain(self.run_dir, "cam")
        s = self.scores("cam")
        self.assertEqual((s["method"], s["layer"], s["format"]), ("grad_cam", "layer3", "run"))
        self.assertEqual(len(s["items"]), 3)
        self.assertEqual([r["id"] for r in s["rejects"]], ["broken.png"])
        for i, item in enumerate(s["items"]):
            m = np.array(item["scores"])
            self.assertEqual(m.shape, (16, 16))
            self.assertGreaterEqual(m.min(), 0.0)  # a ReLU map
            self.assertTrue(os.path.getsize(os.path.join(self.tmp, "cam", f"overlay_{i}.png")) > 0)

    def test_run_and_artifact_agree(self):
        self.explain(self.run_dir, "ig_run", "--method", "integrated_gradients", "--steps", "16", "--target", "2")
        self.explain(self.artifact, "ig_art", "--method", "integrated_gradients", "--steps", "16", "--target", "2")
        a, b = self.scores("ig_run"), self.scores("ig_art")
        self.assertEqual(b["format"], "artifact")
        for x, y in zip(a["items"], b["items"]):
            self.assertEqual(x["id"], y["id"])
            mx, my = np.array(x["scores"]), np.array(y["scores"])
            scale = np.abs(mx).max()
            self.assertGreater(scale, 0)
            self.assertLessEqual(np.abs(mx - my).max() / scale, 1e-4, f"{x['id']}: run folder and artifact differ")

    def test_bad_input(self):
        p = self.explain(self.run_dir, "bad1", "--layer", "layer9", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("valid layers: layer1, layer2, layer3", p.stderr)
        p = self.explain(self.run_dir, "bad2", "--method", "attention", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("methods for image: ", p.stderr)
        self.assertIn("grad_cam", p.stderr)
        p = self.explain(self.artifact, "bad3", "--method", "grad_cam", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("needs the run folder", p.stderr)
        p = self.explain(self.run_dir, "bad4", "--method", "shap", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("grad_cam", p.stderr)


if __name__ == "__main__":
    if not BIN:
        print("skipping: SMLAB_BIN is not set")
        sys.exit(77)
    unittest.main(verbosity=2)
