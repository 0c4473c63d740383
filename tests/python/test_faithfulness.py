"""`smlab explain --faithfulness` and `--top-words` (issue 20) against a direct reimplementation.

Images: a small_cnn trained on red or blue 8x8 squares at random places (test_explain_image_cli.py's
fixture) is explained with Grad-CAM from its run folder; the deletion and insertion curves in
faithfulness.json are recomputed here from smlab's own maps (scores.json) through the exported
TorchScript artifact: a stable descending sort of each map, n_k = round(k n / K) top pixels set to
the baseline (deletion) or restored from the image (insertion), softmax of the target. The random
reference is rebuilt from torch.rand on a CPU generator seeded like smlab's. Both within 1e-5, for
the black baseline and for a Gaussian blur (scipy.ndimage.gaussian_filter, mode 'nearest',
truncate 3). AUC (numpy's trapezoid) and AOPC are recomputed per row and for the means. Sanity:
Grad-CAM's deletion AUC is below random's on a model that looks at the square.

Text: a tiny BiLSTM on planted sentiment words (good/great/love vs bad/awful/hate among filler
words) explained with integrated gradients: the curves over the real tokens only, recomputed
through the artifact from the ids and piece scores in scores.json (padding is never a position:
`positions` = the real tokens, step 0 of deletion and step K of insertion are the unperturbed
probability, deletion's last step equals insertion's first, the empty text); top_words.json is
recomputed from the words in scores.json.

Clips (when $SMLAB_DATA holds the MNIST digits): the Moving-MNIST smoke R3D explained on its own
test split (--split test): box_mass.json's per-frame shares of Grad-CAM mass are recomputed from
the maps and the boxes it reports (each at most the 16x16 digit), and the clip curves start at the
unperturbed probability. Exits 77 (skipped) without SMLAB_BIN, torch, scipy or Pillow.
"""
import csv
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testenv  # noqa: E402

BIN = testenv.require_files("SMLAB_BIN")[0]
np, Image, torch, ndimage = testenv.require_modules("numpy", "PIL.Image", "torch", "scipy.ndimage")
TOL = 1e-5


def smlab(*args, ok=True):
    return testenv.smlab(BIN, *args, ok=ok)


def image(rng, cls):
    return testenv.square_image(np, rng, cls)[0]


def ranks(scores, valid):
    """Rank of each position in a stable descending sort of scores; invalid positions last."""
    key = np.where(valid, scores.astype(np.float64), -np.inf)
    order = np.argsort(-key, kind="stable")
    r = np.empty_like(order)
    r[order] = np.arange(order.size)
    return r


def counts(n, steps):
    return [(2 * k * n + steps) // (2 * steps) for k in range(steps + 1)]


def prob(model, x, target):
    with torch.no_grad():
        out = model(x).float()
    return torch.softmax(out, 1)[:, target].double().numpy()


def auc(c):
    c = np.asarray(c, dtype=float)
    return float(np.sum((c[1:] + c[:-1]) / 2) / (len(c) - 1))


def load(path):
    with open(path) as f:
        return json.load(f)


class FaithfulnessImages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smlab_faithful_img_")
        rng = np.random.default_rng(0)
        raw, probe = os.path.join(cls.dir, "raw"), os.path.join(cls.dir, "probe")
        os.makedirs(probe)
        for k, name in enumerate(("red", "blue")):
            os.makedirs(os.path.join(raw, name))
            for i in range(120):
                Image.fromarray(image(rng, k)).save(os.path.join(raw, name, f"{i:03d}.png"))
        for i in range(12):
            Image.fromarray(image(rng, i % 2)).save(os.path.join(probe, f"p{i:02d}.png"))
        smlab("pack", raw, os.path.join(cls.dir, "packed"))
        cfg = os.path.join(cls.dir, "c.yaml")
        with open(cfg, "w") as f:
            f.write(f"version: 1\nexperiment: {{name: img, output_dir: {cls.dir}/runs, device: cpu, seed: 0}}\n"
                    f"model: {{name: small_cnn}}\n"
                    f"data: {{name: hdf5_images, train: {cls.dir}/packed, val_fraction: 0.2, batch_size: 32, workers: 0}}\n"
                    f"optim: {{name: adamw, lr: 0.003}}\ntrain: {{epochs: 6, progress: none}}\n")
        smlab("train", cfg)
        cls.run_dir = os.path.join(cls.dir, "runs", "img", "latest")
        art = os.path.join(cls.dir, "m.pt")
        smlab("export", cls.run_dir, "--output", art)
        cls.model = torch.jit.load(art).eval()
        cls.probe = probe

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def explain(self, out, *extra):
        out = os.path.join(self.dir, out)
        p = smlab("explain", self.run_dir, "--input", self.probe, "--output", out, "--method", "grad_cam",
                  "--no-overlays", "--seed", "3", *extra)
        self.assertIn("faithfulness of grad_cam", p.stdout)
        self.assertFalse([f for f in os.listdir(out) if f.endswith(".png")])
        return load(os.path.join(out, "scores.json")), load(os.path.join(out, "faithfulness.json"))

    def pixels(self, item_id):
        x = np.asarray(Image.open(os.path.join(self.probe, os.path.basename(item_id))).convert("RGB"), dtype=np.float32)
        return x  # HWC, 0..255: the artifact's layout

    def oracle(self, scores, faith, baseline):
        """(deletion, insertion) method curves and random curves per row, recomputed."""
        steps, reps, seed = faith["steps"], faith["random_maps"], faith["seed"]
        maps = np.array([it["scores"] for it in scores["items"]], dtype=np.float64)
        g = torch.Generator().manual_seed(seed)
        noise = torch.rand((reps, *maps.shape), generator=g).numpy()
        out = []
        for i, it in enumerate(scores["items"]):
            x = self.pixels(it["id"])
            base = baseline(x)
            n = maps[i].size
            valid = np.ones(n, dtype=bool)
            curves = {}
            for name, rankings in (("method", [ranks(maps[i].ravel(), valid)]),
                                   ("random", [ranks(noise[r, i].ravel(), valid) for r in range(reps)])):
                dels, inss = [], []
                for rk in rankings:
                    mask = np.stack([(rk < nk).reshape(x.shape[:2]) for nk in counts(n, steps)])[..., None]
                    xd = np.where(mask, base[None], x[None]).astype(np.float32)
                    xi = np.where(mask, x[None], base[None]).astype(np.float32)
                    dels.append(prob(self.model, torch.from_numpy(xd), it["target"]))
                    inss.append(prob(self.model, torch.from_numpy(xi), it["target"]))
                curves[name] = (np.mean(dels, 0), np.mean(inss, 0))
            out.append(curves)
        return out

    def check(self, scores, faith, baseline):
        ref = self.oracle(scores, faith, baseline)
        self.assertEqual(len(faith["items"]), len(scores["items"]))
        worst = 0.0
        for it, fi, r in zip(scores["items"], faith["items"], ref):
            self.assertEqual((fi["id"], fi["target"], fi["positions"]), (it["id"], it["target"], 32 * 32))
            self.assertAlmostEqual(fi["probability"], it["probability"], delta=TOL)
            for curve, pos in (("deletion", 0), ("insertion", 1)):
                for name in ("method", "random"):
                    got = np.array(fi[curve][name])
                    self.assertEqual(got.shape, (faith["steps"] + 1,))
                    worst = max(worst, float(np.abs(got - r[name][pos]).max()))
                    self.assertAlmostEqual(fi[curve]["auc"][name], auc(got), delta=1e-9)
                    self.assertAlmostEqual(fi[curve]["aopc"][name], fi["probability"] - got.mean(), delta=1e-9)
            self.assertAlmostEqual(fi["deletion"]["method"][0], fi["probability"], delta=TOL)
            self.assertAlmostEqual(fi["insertion"]["method"][-1], fi["probability"], delta=TOL)
        print(f"largest curve difference from the oracle: {worst:.2e}")
        self.assertLessEqual(worst, TOL)
        for curve in ("deletion", "insertion"):
            for name in ("method", "random"):
                mean = np.mean([auc(fi[curve][name]) for fi in faith["items"]])
                self.assertAlmostEqual(faith[curve]["auc"][name], mean, delta=1e-9)
            d = [fi[curve]["auc"]["method"] - fi[curve]["auc"]["random"] for fi in faith["items"]]
            lo, hi = faith[curve]["auc"]["difference"]["ci95"]
            self.assertLess(lo, np.mean(d))
            self.assertGreater(hi, np.mean(d))

    def test_black_baseline_matches_the_oracle(self):
        scores, faith = self.explain("zeros", "--faithfulness", "8", "--random-maps", "3", "--batch-size", "5")
        self.assertEqual(faith["baseline"], "zeros")
        self.check(scores, faith, np.zeros_like)
        d = faith["deletion"]["auc"]
        print(f"Grad-CAM deletion AUC {d['method']:.3f} vs random {d['random']:.3f}; insertion AUC "
              f"{faith['insertion']['auc']['method']:.3f} vs random {faith['insertion']['auc']['random']:.3f}")
        self.assertLess(d["method"], d["random"])  # the model looks at the square, and Grad-CAM finds it

    def test_blur_baseline_matches_the_oracle(self):
        scores, faith = self.explain("blur", "--faithfulness", "5", "--random-maps", "1", "--baseline", "blur",
                                     "--blur-sigma", "1.5")
        self.assertEqual(faith["baseline"], "blur(sigma=1.5)")
        self.check(scores, faith,
                   lambda x: ndimage.gaussian_filter(x.astype(np.float64), sigma=(1.5, 1.5, 0), mode="nearest",
                                                     truncate=3.0))

    def test_errors(self):
        p = smlab("explain", self.run_dir, "--input", self.probe, "--output", os.path.join(self.dir, "bad"),
                  "--top-words", "5", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--top-words needs a text model", p.stderr)
        p = smlab("explain", self.run_dir, "--input", self.probe, "--output", os.path.join(self.dir, "bad"),
                  "--faithfulness", "4", "--baseline", "grey", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unknown faithfulness baseline 'grey'", p.stderr)

    def test_split_and_box_mass_need_other_runs(self):
        p = smlab("explain", self.run_dir, "--split", "test", "--output", os.path.join(self.dir, "bad"), ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--split reads runs whose inputs are float tensors", p.stderr)
        p = smlab("explain", self.run_dir, "--input", self.probe, "--output", os.path.join(self.dir, "bad"),
                  "--box-mass", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--box-mass needs a model of clips", p.stderr)


SRC = os.environ.get("SMLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("SMLAB_DATA", os.path.join(SRC, "..", "shared", "datasets"))


@unittest.skipUnless(os.path.isdir(os.path.join(DATA, "mnist_test_digits")), "MNIST digits not in $SMLAB_DATA")
class BoxMassClips(unittest.TestCase):
    """The Moving-MNIST smoke R3D (experiments/video/moving_mnist_r3d_smoke.yaml, about 20 s) explained on
    its own test split: box_mass.json's shares are recomputed from the maps in scores.json and the boxes."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smlab_faithful_clip_")
        os.environ["SMLAB_DATA"] = DATA
        run = os.path.join(cls.dir, "run")
        smlab("train", os.path.join(SRC, "experiments/video/moving_mnist_r3d_smoke.yaml"), "--run-dir", run,
              "train.progress=none", "train.epochs=1", "data.train_size=128", "data.val_size=16", "data.test_size=16")
        cls.out = os.path.join(cls.dir, "ex")
        cls.stdout = smlab("explain", run, "--split", "test", "--limit", "12", "--output", cls.out, "--box-mass",
                           "--faithfulness", "3", "--random-maps", "1", "--no-overlays", "--batch-size", "5").stdout
        cls.scores = load(os.path.join(cls.out, "scores.json"))
        cls.box = load(os.path.join(cls.out, "box_mass.json"))
        cls.faith = load(os.path.join(cls.out, "faithfulness.json"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_mass_in_the_box(self):
        self.assertIn("mass in the object's box", self.stdout)
        self.assertEqual([i["id"] for i in self.scores["items"]], [f"test/{i}" for i in range(12)])
        masses, shares = [], []
        for it, b in zip(self.scores["items"], self.box["items"]):
            m = np.abs(np.array(it["scores"], dtype=np.float64))  # [T, H, W]
            t, h, w = m.shape
            self.assertEqual(len(b["boxes"]), t)
            for f, (y0, bh, x0, bw) in enumerate(b["boxes"]):
                self.assertTrue(1 <= bh <= 16 and 1 <= bw <= 16, b["boxes"])  # digit_size 16: one digit per frame
                inside = np.zeros((h, w), dtype=bool)
                inside[np.ix_([(y0 + i) % h for i in range(bh)], [(x0 + i) % w for i in range(bw)])] = True
                self.assertAlmostEqual(b["box_share"][f], bh * bw / (h * w), delta=1e-12)
                self.assertAlmostEqual(b["mass"][f], m[f][inside].sum() / m[f].sum(), delta=1e-9)
            masses.append(np.mean(b["mass"]))
            shares.append(np.mean(b["box_share"]))
        self.assertAlmostEqual(self.box["mean"]["mass"], np.mean(masses), delta=1e-9)
        self.assertAlmostEqual(self.box["mean"]["box_share"], np.mean(shares), delta=1e-9)
        for f, pf in enumerate(self.box["per_frame"]):
            self.assertAlmostEqual(pf["mass"], np.mean([b["mass"][f] for b in self.box["items"]]), delta=1e-9)

    def test_clip_curves_start_at_the_probability(self):
        for it, fi in zip(self.scores["items"], self.faith["items"]):
            self.assertEqual(fi["positions"], 8 * 32 * 32)
            self.assertAlmostEqual(fi["deletion"]["method"][0], it["probability"], delta=TOL)
            self.assertAlmostEqual(fi["insertion"]["method"][-1], it["probability"], delta=TOL)


POS, NEG, sentence = testenv.POS_WORDS, testenv.NEG_WORDS, testenv.polar_sentence


class FaithfulnessText(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smlab_faithful_txt_")
        rng = np.random.default_rng(1)
        train = os.path.join(cls.dir, "train.tsv")
        with open(train, "w") as f:
            for i in range(600):
                f.write(f"{i}\t{['negative', 'positive'][i % 2]}\t{sentence(rng, i % 2)}\n")
        cls.texts = os.path.join(cls.dir, "probe.tsv")
        with open(cls.texts, "w") as f:
            f.write("id\ttext\n")
            for i in range(24):
                f.write(f"t{i}\t{sentence(rng, i % 2)}\n")
        cfg = testenv.tiny_text_config(os.path.join(cls.dir, "t.yaml"), cls.dir, "txt", train)
        smlab("train", cfg)
        cls.run_dir = os.path.join(cls.dir, "runs", "txt", "latest")
        art = os.path.join(cls.dir, "t.pt")
        smlab("export", cls.run_dir, "--output", art)
        cls.model = torch.jit.load(art).eval()
        out = cls.out = os.path.join(cls.dir, "ig")
        cls.stdout = smlab("explain", cls.run_dir, "--input", cls.texts, "--output", out, "--steps", "16",
                           "--faithfulness", "6", "--random-maps", "2", "--top-words", "3", "--min-count", "2",
                           "--batch-size", "7").stdout
        cls.scores = load(os.path.join(out, "scores.json"))
        cls.faith = load(os.path.join(out, "faithfulness.json"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_curves_match_the_oracle(self):
        steps, reps = self.faith["steps"], self.faith["random_maps"]
        items = self.scores["items"]
        width = max(len(it["ids"]) for it in items) + 3  # extra padding changes nothing
        shape = self.faith["input_shape"]  # [B, L]: the random maps are drawn as [R, B, L]
        self.assertEqual(shape[0], len(items))
        g = torch.Generator().manual_seed(self.faith["seed"])
        noise = torch.rand((reps, *shape), generator=g).numpy()
        worst = 0.0
        for i, (it, fi) in enumerate(zip(items, self.faith["items"])):
            ids = np.array(it["ids"], dtype=np.int64)
            n = len(ids)
            self.assertEqual(fi["positions"], n)  # padding is never a position
            self.assertEqual(n, len(it["pieces"]))
            s = np.array([p["score"] for p in it["pieces"]])
            valid = np.ones(n, dtype=bool)
            for name, rankings in (("method", [ranks(s, valid)]),
                                   ("random", [ranks(noise[r, i, :n], valid) for r in range(reps)])):
                dels, inss = [], []
                for rk in rankings:
                    xd = np.zeros((steps + 1, width), dtype=np.int64)
                    xi = np.zeros_like(xd)
                    for k, nk in enumerate(counts(n, steps)):
                        xd[k, :n] = np.where(rk < nk, 0, ids)
                        xi[k, :n] = np.where(rk < nk, ids, 0)
                    dels.append(prob(self.model, torch.from_numpy(xd), it["target"]))
                    inss.append(prob(self.model, torch.from_numpy(xi), it["target"]))
                worst = max(worst, float(np.abs(np.array(fi["deletion"][name]) - np.mean(dels, 0)).max()),
                            float(np.abs(np.array(fi["insertion"][name]) - np.mean(inss, 0)).max()))
        print(f"largest text curve difference from the oracle: {worst:.2e}")
        self.assertLessEqual(worst, TOL)

    def test_endpoints(self):
        self.assertIn("faithfulness of integrated_gradients at embedding", self.stdout)
        self.assertEqual(self.faith["baseline"], "padding")
        empty = {}
        for it, fi in zip(self.scores["items"], self.faith["items"]):
            self.assertAlmostEqual(fi["deletion"]["method"][0], it["probability"], delta=TOL)
            self.assertAlmostEqual(fi["insertion"]["method"][-1], it["probability"], delta=TOL)
            self.assertAlmostEqual(fi["deletion"]["random"][0], it["probability"], delta=TOL)
            self.assertAlmostEqual(fi["deletion"]["method"][-1], fi["insertion"]["method"][0], delta=TOL)
            empty.setdefault(it["target"], []).append(fi["deletion"]["method"][-1])
        for v in empty.values():  # the all-padding text: one probability per class
            self.assertLessEqual(max(v) - min(v), TOL)
        d = self.faith["deletion"]["auc"]
        print(f"IG deletion AUC {d['method']:.3f} vs random {d['random']:.3f}")
        self.assertLess(d["method"], d["random"])

    def test_top_words(self):
        with open(os.path.join(self.out, "top_words.json")) as f:
            top = json.load(f)
        self.assertEqual(top["min_count"], 2)
        sums = {}
        for it in self.scores["items"]:
            for w in it["words"]:
                e = sums.setdefault(it["target_name"], {}).setdefault(w["word"], [0.0, 0])
                e[0] += w["score"]
                e[1] += 1
        self.assertEqual({c["target"] for c in top["classes"]}, set(sums))
        for c in top["classes"]:
            means = {w: s / n for w, (s, n) in sums[c["target"]].items() if n >= 2}
            self.assertEqual(c["words"], len(means))
            ranked = sorted(means.values(), reverse=True)
            self.assertEqual([round(w["mean"], 9) for w in c["positive"]], [round(v, 9) for v in ranked[:3]])
            self.assertEqual([round(w["mean"], 9) for w in c["negative"]], [round(v, 9) for v in ranked[::-1][:3]])
            for w in c["positive"] + c["negative"]:
                self.assertAlmostEqual(w["mean"], means[w["word"]], delta=1e-9)
                self.assertEqual(w["count"], sums[c["target"]][w["word"]][1])
        want = {"positive": set(POS), "negative": set(NEG)}
        for c in top["classes"]:  # the planted words raise their own class most
            self.assertTrue(set(w["word"] for w in c["positive"][:1]) <= want[c["target"]], c)
        with open(os.path.join(self.out, "top_words.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), sum(len(c["positive"]) + len(c["negative"]) for c in top["classes"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
