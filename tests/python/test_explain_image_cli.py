"""`smlab explain` end to end on an image run (issue 20): a folder of PNGs in two classes (a red or a
blue 8x8 square at a random place in a noisy 32x32 image) is packed, a small_cnn is trained on it
for a few epochs, exported, and explained from the run folder with Grad-CAM (at small_cnn's
`features` tap; before every image model had a tap this failed with "no layers with spatial maps")
and from the artifact with integrated gradients (completeness is checked at the library level by
test_explain_axioms.py).

Checks, each able to fail: scores.json has one 32x32 map per image; Grad-CAM maps are non-negative
and not constant; overlay_<n>.png decodes, has the input's shape (scaled up for viewing) and is not blank; the Grad-CAM mass
peaks on the square for most images (the trained model looks where the class is); the artifact's integrated gradients are finite, non-zero maps of the input's
size with overlays; an unknown --layer lists the valid layers. Exits 77 (skipped) without SMLAB_BIN or
Pillow.
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testenv  # noqa: E402

BIN = testenv.require_files("SMLAB_BIN")[0]
np, Image = testenv.require_modules("numpy", "PIL.Image")


def smlab(*args, ok=True):
    return testenv.smlab(BIN, *args, ok=ok)


def image(rng, cls):
    return testenv.square_image(np, rng, cls)


class ExplainImages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smlab_explain_img_")
        rng = np.random.default_rng(0)
        raw, probe = os.path.join(cls.dir, "raw"), os.path.join(cls.dir, "probe")
        os.makedirs(probe)
        cls.squares = []
        for k, name in enumerate(("red", "blue")):
            os.makedirs(os.path.join(raw, name))
            for i in range(120):
                Image.fromarray(image(rng, k)[0]).save(os.path.join(raw, name, f"{i:03d}.png"))
        for i in range(8):  # images to explain, sorted by name: the class alternates
            x, r, c = image(rng, i % 2)
            Image.fromarray(x).save(os.path.join(probe, f"p{i}.png"))
            cls.squares.append((r, c))
        smlab("pack", raw, os.path.join(cls.dir, "packed"))
        cfg = os.path.join(cls.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write(f"version: 1\nexperiment: {{name: img, output_dir: {cls.dir}/runs, device: cpu, seed: 0}}\n"
                    f"model: {{name: small_cnn}}\n"
                    f"data: {{name: hdf5_images, train: {cls.dir}/packed, val_fraction: 0.2, batch_size: 32, workers: 0}}\n"
                    f"optim: {{name: adamw, lr: 0.003}}\ntrain: {{epochs: 6}}\n")
        smlab("train", cfg)
        cls.run_dir = os.path.join(cls.dir, "runs", "img", "latest")
        smlab("export", cls.run_dir, "--output", os.path.join(cls.dir, "m.pt"))
        cls.probe_dir = probe

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def explain(self, model, out, *extra):
        smlab("explain", model, "--input", self.probe_dir, "--output", out, *extra)
        with open(os.path.join(out, "scores.json")) as f:
            return json.load(f)

    def maps(self, scores):
        items = scores.get("items") or scores.get("inputs") or scores.get("results")
        self.assertIsNotNone(items, list(scores))
        return items

    def test_grad_cam_from_the_run_folder(self):
        out = os.path.join(self.dir, "gc")
        s = self.explain(self.run_dir, out, "--method", "grad_cam")
        items = self.maps(s)
        self.assertEqual(len(items), 8)
        toward = 0
        for n, it in enumerate(items):
            m = np.array(it["scores"], dtype=float)
            self.assertEqual(m.shape[-2:], (32, 32), m.shape)
            self.assertGreaterEqual(m.min(), 0.0)
            self.assertGreater(m.max(), m.min())
            r, c = self.squares[n]  # the map's peak lies on the square (4 px margin)
            pr, pc = np.unravel_index(np.argmax(m), m.shape)
            toward += r - 4 <= pr < r + 12 and c - 4 <= pc < c + 12
            png = Image.open(os.path.join(out, f"overlay_{n}.png"))
            self.assertEqual(png.size[0], png.size[1])  # the input's shape, scaled up for viewing
            self.assertEqual(png.size[0] % 32, 0, png.size)
            self.assertGreater(np.asarray(png, dtype=float).std(), 1.0)
        print(f"Grad-CAM peak on the square: {toward}/8 images")
        self.assertGreaterEqual(toward, 6)

    def test_integrated_gradients_through_the_artifact(self):
        s = self.explain(os.path.join(self.dir, "m.pt"), os.path.join(self.dir, "ig"), "--method",
                         "integrated_gradients", "--steps", "32")
        self.assertEqual(s["format"], "artifact")
        for n, it in enumerate(self.maps(s)):
            m = np.array(it["scores"], dtype=float)
            self.assertEqual(m.size % (32 * 32), 0, m.shape)
            self.assertTrue(np.isfinite(m).all())
            self.assertGreater(np.abs(m).sum(), 0)
            self.assertTrue(os.path.exists(os.path.join(self.dir, "ig", f"overlay_{n}.png")))

    def test_report_embeds_the_explanation(self):
        """`smlab report RUN` embeds explain output found in the run folder: the overlays are the PNG
        files' own bytes, and the faithfulness table carries faithfulness.json's numbers."""
        import base64
        import re
        out = os.path.join(os.path.realpath(self.run_dir), "explain_gc")
        self.explain(self.run_dir, out, "--method", "grad_cam", "--faithfulness", "5", "--random-maps", "2")
        smlab("report", self.run_dir, "--no-examples")
        with open(os.path.join(self.run_dir, "report.html")) as f:
            page = f.read()
        self.assertIn('<section id="explain-explain_gc"', page)
        imgs = re.findall(r'data-file="(overlay_\d+\.png)" src="data:image/png;base64,([^"]+)"', page)
        self.assertEqual(len(imgs), 8)
        for name, b64 in imgs:
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqual(base64.b64decode(b64), f.read(), name)
        with open(os.path.join(out, "faithfulness.json")) as f:
            faith = json.load(f)
        section = page[page.index('<section id="explain-explain_gc"'):]
        rows = re.findall(r"<tr><td>(deletion|insertion)</td><td>(auc|aopc)</td><td[^>]*>([^<]+)</td><td[^>]*>([^<]+)</td>", section)
        self.assertEqual(len(rows), 4, section[:2000])
        for curve, measure, mapped, rnd in rows:
            want = faith[curve][measure]
            self.assertAlmostEqual(float(mapped), want["method"], delta=5e-4 * max(1, abs(want["method"])))
            self.assertAlmostEqual(float(rnd), want["random"], delta=5e-4 * max(1, abs(want["random"])))

    def test_unknown_layer_lists_the_valid_ones(self):
        p = smlab("explain", self.run_dir, "--input", self.probe_dir, "--output", os.path.join(self.dir, "bad"),
                  "--method", "grad_cam", "--layer", "featurez", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("features", p.stderr)


if __name__ == "__main__":
    unittest.main()
