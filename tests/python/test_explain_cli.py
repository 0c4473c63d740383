"""`smlab explain` end to end on the quick-start MLP (experiments/quickstart.yaml, one short epoch),
from its run folder and from its exported artifact, on the artifact's sample CSV of test rows.

Checks: scores.json has one score per feature for each of the first --limit rows; integrated
gradients from the run folder and from the artifact agree within 1e-5 (gradients flow through the
artifact's forward); the scores sum to f(x) - f(0) of the explained class within 1%; a method for
another model kind lists the methods that fit, an unknown method lists the known ones, a target
outside the outputs names the range, each with exit status 2.

Text (when $SMLAB_DATA holds SemEval 2017 / TweetEval): the sentiment smoke TextCNN
(experiments/sentiment/smoke.yaml, one epoch) on three tweets: tokens.html is written, each word's
score is the sum of its pieces' scores, every piece gets a score, and the text artifact is refused
with a message that asks for the run folder.

Image and clip runs are covered at the library level by test_explain_captum.py and
test_explain_axioms.py. Exits 77 (skipped) when SMLAB_BIN is unset.
"""
import csv
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testenv  # noqa: E402

BIN = os.environ.get("SMLAB_BIN", "")
SRC = os.environ.get("SMLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def smlab(*args, ok=True):
    return testenv.smlab(BIN, *args, ok=ok)


class ExplainCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="smlab_explain_cli_")
        t = cls.tmp = cls._tmp.name
        cls.run_dir = os.path.join(t, "run")
        smlab("train", os.path.join(SRC, "experiments/quickstart.yaml"), "--run-dir", cls.run_dir, "train.epochs=1",
              "data.train_size=400", "--device", "cpu")
        cls.artifact = os.path.join(t, "model.pt")
        smlab("export", cls.run_dir, "--output", cls.artifact, "--sample", "8")
        cls.rows = cls.artifact + ".sample.csv"

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def explain(self, model, out, *extra, ok=True):
        return smlab("explain", model, "--input", self.rows, "--output", os.path.join(self.tmp, out), *extra, ok=ok)

    def scores(self, out):
        with open(os.path.join(self.tmp, out, "scores.json")) as f:
            return json.load(f)

    def test_run_and_artifact_agree(self):
        self.explain(self.run_dir, "run", "--limit", "5", "--steps", "32")
        self.explain(self.artifact, "art", "--limit", "5", "--steps", "32")
        a, b = self.scores("run"), self.scores("art")
        self.assertEqual((a["method"], a["format"], b["format"]), ("integrated_gradients", "run", "artifact"))
        self.assertEqual(len(a["items"]), 5)
        with open(self.rows) as f:
            ids = [r["id"] for r in csv.DictReader(f)][:5]
        self.assertEqual([i["id"] for i in a["items"]], ids)
        for x, y in zip(a["items"], b["items"]):
            self.assertEqual((x["id"], x["target"]), (y["id"], y["target"]))
            self.assertEqual(len(x["scores"]), 16)
            scale = max(abs(v) for v in x["scores"])
            self.assertGreater(scale, 0)
            err = max(abs(u - v) for u, v in zip(x["scores"], y["scores"])) / scale
            self.assertLessEqual(err, 1e-5, f"{x['id']}: run folder and artifact differ by {err}")

    def test_scores_h5_equal_the_json(self):
        import h5py
        self.explain(self.run_dir, "json", "--limit", "6", "--steps", "16")
        self.explain(self.run_dir, "h5", "--limit", "6", "--steps", "16", "--scores", "h5")
        a, b = self.scores("json"), self.scores("h5")
        self.assertEqual(b["scores_file"], "scores.h5")
        self.assertTrue(all("scores" not in i for i in b["items"]))  # the heavy part moved to the HDF5 file
        with h5py.File(os.path.join(self.tmp, "h5", "scores.h5"), "r") as f:
            ids = [x.decode() if isinstance(x, bytes) else x for x in f["ids"][:]]
            self.assertEqual(ids, [i["id"] for i in a["items"]])
            self.assertEqual(list(f["target"][:]), [i["target"] for i in a["items"]])
            self.assertEqual(f["scores"].shape, (6, 16))
            for row, item in zip(f["scores"][:], a["items"]):
                for u, v in zip(row, item["scores"]):
                    self.assertAlmostEqual(float(u), v, delta=1e-6 * max(1.0, abs(v)))
            for p, item in zip(f["probability"][:], a["items"]):
                self.assertAlmostEqual(float(p), item["probability"], places=6)
        r = self.explain(self.run_dir, "bad", "--limit", "1", "--scores", "csv", ok=False)
        self.assertIn("--scores must be json or h5", r.stdout + r.stderr)

    def test_target_and_methods(self):
        for method in ("gradients", "smoothgrad", "input_x_gradient"):
            self.explain(self.run_dir, method, "--method", method, "--limit", "2", "--target", "1", "--samples", "3")
            s = self.scores(method)
            self.assertEqual([i["target"] for i in s["items"]], [1, 1])
            self.assertTrue(any(v != 0 for v in s["items"][0]["scores"]), method)

    def test_bad_input(self):
        p = self.explain(self.run_dir, "bad1", "--method", "grad_cam", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("does not fit features models", p.stderr)
        self.assertIn("methods for features: gradients, input_x_gradient, integrated_gradients, smoothgrad", p.stderr)
        p = self.explain(self.run_dir, "bad2", "--method", "shapley", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("known explain methods: attention, grad_cam", p.stderr)
        p = self.explain(self.artifact, "bad3", "--target", "9", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("[0, 4)", p.stderr)


DATA = os.environ.get("SMLAB_DATA", os.path.join(SRC, "..", "shared", "datasets"))


@unittest.skipUnless(os.path.isdir(os.path.join(DATA, "semeval2017_task4a")), "SemEval 2017 data not in $SMLAB_DATA")
class ExplainText(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="smlab_explain_text_")
        t = cls.tmp = cls._tmp.name
        cls.run_dir = os.path.join(t, "run")
        os.environ["SMLAB_DATA"] = DATA
        smlab("train", os.path.join(SRC, "experiments/sentiment/smoke.yaml"), "--run-dir", cls.run_dir,
              "train.epochs=1", f"data.tokenizer_cache={t}/tok", "--device", "cpu")
        cls.texts = os.path.join(t, "texts.tsv")
        with open(cls.texts, "w") as f:
            f.write("id\ttext\nt1\tI love this movie, it is great!\nt2\tworst day ever, so sad\nt3\tmeeting on monday\n")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_words_and_html(self):
        out = os.path.join(self.tmp, "ig")
        smlab("explain", self.run_dir, "--input", self.texts, "--output", out, "--steps", "32")
        with open(os.path.join(out, "scores.json")) as f:
            s = json.load(f)
        self.assertEqual((s["method"], s["layer"]), ("integrated_gradients", "embedding"))
        self.assertEqual([i["id"] for i in s["items"]], ["t1", "t2", "t3"])
        for item in s["items"]:
            pieces, words = item["pieces"], item["words"]
            self.assertGreater(len(pieces), len(words) - 1)
            self.assertAlmostEqual(sum(p["score"] for p in pieces), sum(w["score"] for w in words), places=5)
            self.assertEqual("".join(w["word"] for w in words), "".join(p["piece"] for p in pieces).replace("\u2581", ""))
        self.assertIn("great!", [w["word"] for w in s["items"][0]["words"]])
        with open(os.path.join(out, "tokens.html")) as f:
            self.assertIn("great!</span>", f.read())

    def test_text_scores_h5(self):
        import h5py
        out = os.path.join(self.tmp, "ig_h5")
        smlab("explain", self.run_dir, "--input", self.texts, "--output", out, "--steps", "32", "--scores", "h5")
        with open(os.path.join(out, "scores.json")) as f:
            s = json.load(f)
        with h5py.File(os.path.join(out, "scores.h5"), "r") as f:
            scores, ids = f["scores"][:], f["input_ids"][:]
        self.assertEqual(scores.shape, ids.shape)
        for row, tok, item in zip(scores, ids, s["items"]):
            self.assertTrue(all(row[tok == 0] == 0))  # padding gets nothing
            self.assertAlmostEqual(float(row.sum()), sum(p["score"] for p in item["pieces"]), places=4)

    def test_text_artifact_is_refused(self):
        art = os.path.join(self.tmp, "model.pt")
        smlab("export", self.run_dir, "--output", art)
        p = smlab("explain", art, "--input", self.texts, "--output", os.path.join(self.tmp, "x"), ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("needs the run folder", p.stderr)


if __name__ == "__main__":
    if not BIN:
        print("skipping: SMLAB_BIN is not set")
        sys.exit(77)
    unittest.main(verbosity=2)
