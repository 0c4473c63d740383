"""`smlab active-learn` (analysis/active_learning.cpp) and the text_tsv subset keys it trains with
(data.train_rows, data.train_limit), on a synthetic two-class text pool.

Oracles:
  - every uncertainty-bought row set equals numpy's top-k of the same strategy's formula over the
    probabilities the round wrote to pool.csv (unlabelled rows only, ties by row), and the written
    uncertainty equals that formula within 1e-12;
  - the labelled sets grow by exactly the budget and contain the previous round's rows; round 0 is one
    seeded random draw shared by the strategies;
  - each curve value equals its round's summary.json, the mean and 95% interval equal numpy/scipy's,
    and "labels saved" equals a log2-linear interpolation written here;
  - a simulation whose last round (labels, pool scores and run) is deleted, and one whose last run is
    left unfinished, rerun to the same rows and the same table (seeded, resumable);
  - bad sizes, a pool too small, an unknown strategy and bad train_rows files are one-line errors
    naming the value.
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
np, stats = testenv.require_modules("numpy", "scipy.stats")

POOL = 400
SIZES = [40, 80, 120]


def smlab(*args, ok=True):
    return testenv.smlab(BIN, *args, ok=ok, threads="1")


def load(path):
    with open(path) as f:
        return json.load(f)


def rows(path):
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def margin(p):
    s = np.sort(p, axis=1)
    return 1.0 - (s[:, -1] - s[:, -2])


def entropy(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(1)


class ActiveLearning(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smlab_al_")
        rng = np.random.default_rng(3)
        cls.train = os.path.join(cls.dir, "pool.tsv")
        with open(cls.train, "w") as f:
            for i in range(POOL):  # a third of the texts carry no sentiment word: the uncertain ones
                label = int(rng.integers(0, 2))
                f.write(f"{i}\t{['negative', 'positive'][label]}\t{testenv.polar_sentence(rng, label, i % 3 != 0)}\n")
        test = os.path.join(cls.dir, "test.tsv")
        with open(test, "w") as f:
            for i in range(120):
                f.write(f"t{i}\t{['negative', 'positive'][i % 2]}\t{testenv.polar_sentence(rng, i % 2)}\n")
        cls.cfg = testenv.tiny_text_config(
            os.path.join(cls.dir, "t.yaml"), cls.dir, "al", cls.train, batch=16, experiment="threads: 1",
            data=f"test: {test}, val_fraction: 0.2",
            train="epochs: 2, progress: none, tensorboard: false, best_metric: macro_recall")
        cls.out = os.path.join(cls.dir, "al")
        cls.args = ["active-learn", cls.cfg, "--output", cls.out, "--sizes", ",".join(map(str, SIZES)),
                    "--seeds", "0,1", "--strategies", "margin,entropy,random", "--min-steps", "8"]
        cls.stdout = smlab(*cls.args).stdout
        cls.summary = load(os.path.join(cls.out, "al_summary.json"))
        with open(os.path.join(cls.out, "al_curves.csv")) as f:
            cls.csv = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def round_dir(self, strategy, seed, k):
        if k == 0:
            return os.path.join(self.out, f"seed{seed}", f"round0-{SIZES[0]}")
        return os.path.join(self.out, strategy, f"seed{seed}", f"round{k}-{SIZES[k]}")

    def test_pool_is_the_validation_remainder(self):
        # val_fraction 0.2 holds out 80 of the 400 rows: the pool is the other 320.
        self.assertEqual(self.summary["pool"], 320)
        self.assertIn("margin", self.stdout)

    def test_round0_is_shared_and_sets_grow_by_the_budget(self):
        for seed in (0, 1):
            first = rows(os.path.join(self.round_dir("", seed, 0), "labelled.txt"))
            self.assertEqual(len(first), SIZES[0])
            self.assertEqual(len(set(first)), SIZES[0])
            for strategy in ("margin", "entropy", "random"):
                prev = set(first)
                for k in range(1, len(SIZES)):
                    now = rows(os.path.join(self.round_dir(strategy, seed, k), "labelled.txt"))
                    self.assertEqual(len(now), SIZES[k])
                    self.assertTrue(prev <= set(now), f"{strategy} seed {seed} round {k} dropped labelled rows")
                    self.assertTrue(all(0 <= r < 320 for r in now))
                    prev = set(now)
        a = rows(os.path.join(self.round_dir("", 0, 0), "labelled.txt"))
        b = rows(os.path.join(self.round_dir("", 1, 0), "labelled.txt"))
        self.assertNotEqual(a, b, "two seeds drew the same starting set")

    def test_bought_rows_are_numpys_top_k(self):
        for strategy, fn in (("margin", margin), ("entropy", entropy)):
            for seed in (0, 1):
                for k in range(1, len(SIZES)):
                    d = self.round_dir(strategy, seed, k)
                    with open(os.path.join(d, "pool.csv")) as f:
                        table = list(csv.DictReader(f))
                    self.assertEqual(len(table), 320)
                    p = np.array([[float(r["p_negative"]), float(r["p_positive"])] for r in table])
                    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
                    u = np.array([float(r["uncertainty"]) for r in table])
                    np.testing.assert_allclose(u, fn(p), rtol=0, atol=1e-12)
                    before = set(rows(os.path.join(self.round_dir(strategy, seed, k - 1), "labelled.txt")))
                    self.assertEqual({i for i, r in enumerate(table) if r["labelled"] == "1"}, before)
                    free = np.array([i for i in range(320) if i not in before])
                    order = free[np.lexsort((free, -u[free]))]
                    want = set(order[:SIZES[k] - SIZES[k - 1]].tolist())
                    got = set(rows(os.path.join(d, "labelled.txt"))) - before
                    self.assertEqual(got, want, f"{strategy} seed {seed} round {k}")

    def test_curves_svg_is_a_standalone_chart_of_the_means(self):
        import xml.etree.ElementTree as ET
        root = ET.parse(os.path.join(self.out, "al_curves.svg")).getroot()  # well-formed XML
        ns = "{http://www.w3.org/2000/svg}"
        self.assertEqual(root.tag, ns + "svg")
        self.assertIsNotNone(root.find(ns + "style"))
        lines = {g.get("data-values") for g in root.iter(ns + "g") if g.get("class") == "series"}
        for strategy in ("margin", "entropy", "random"):
            means = [c["mean"] for c in self.summary["curves"][strategy]]
            self.assertTrue(any(v and np.allclose([float(x) for x in v.split()], means, rtol=1e-10) for v in lines),
                            strategy)
        # One legend entry per strategy; the interval lines have none of their own.
        legend = [t.text for g in root.iter(ns + "g") if g.get("class") == "legend-entry" for t in g.iter(ns + "text")]
        self.assertEqual(sorted(legend), sorted(["margin", "entropy", "random"]))

    def test_random_arm_scores_nothing(self):
        self.assertFalse(os.path.exists(os.path.join(self.round_dir("random", 0, 1), "pool.csv")))

    def test_curves_equal_the_runs_and_their_statistics(self):
        curves = self.summary["curves"]
        for strategy in ("margin", "entropy", "random"):
            for k, point in enumerate(curves[strategy]):
                want = []
                for seed in (0, 1):
                    s = load(os.path.join(self.round_dir(strategy, seed, k), "run", "summary.json"))
                    want.append(s["test"]["macro_recall"])
                    self.assertIn(f"{strategy},{seed},{SIZES[k]},{want[-1]:.6f}", self.csv)
                self.assertEqual(point["labels"], SIZES[k])
                self.assertEqual(point["values"], want)
                self.assertAlmostEqual(point["mean"], float(np.mean(want)), places=12)
                lo, hi = stats.t.interval(0.95, 1, loc=np.mean(want), scale=stats.sem(want))
                if np.isfinite(lo):
                    self.assertAlmostEqual(point["ci95"][0], lo, places=9)
                    self.assertAlmostEqual(point["ci95"][1], hi, places=9)

    def test_min_steps_raises_the_epochs_of_small_rounds(self):
        # 40 labels at batch 16 = 3 steps an epoch: 8 steps need 3 epochs; 120 labels (8 steps) keep 2.
        s0 = load(os.path.join(self.round_dir("", 0, 0), "run", "summary.json"))
        s2 = load(os.path.join(self.round_dir("margin", 0, 2), "run", "summary.json"))
        self.assertEqual(s0["epochs"], 3)
        self.assertEqual(s2["epochs"], 2)

    def test_labels_saved_interpolates_in_log2(self):
        curves = self.summary["curves"]
        for entry in self.summary["labels_saved"]:
            means = [c["mean"] for c in curves[entry["strategy"]]]
            target, need = entry["random_mean"], -1.0
            for k, m in enumerate(means):
                if m >= target:
                    if k == 0:
                        need = SIZES[0]
                    else:
                        t = (target - means[k - 1]) / (m - means[k - 1])
                        need = 2 ** (np.log2(SIZES[k - 1]) + t * (np.log2(SIZES[k]) - np.log2(SIZES[k - 1])))
                    break
            self.assertAlmostEqual(entry["labels_needed"], need, places=6)
        self.assertEqual(len(self.summary["labels_saved"]), 2 * (len(SIZES) - 1))

    def test_rerun_after_losing_the_last_round_gives_the_same_table(self):
        d = self.round_dir("margin", 1, 2)
        before = rows(os.path.join(d, "labelled.txt"))
        shutil.rmtree(d)
        # and leave another run unfinished: its summary is gone, its checkpoint stays
        e = self.round_dir("random", 1, 2)
        os.remove(os.path.join(e, "run", "summary.json"))
        smlab(*self.args)
        self.assertEqual(rows(os.path.join(d, "labelled.txt")), before)
        with open(os.path.join(self.out, "al_curves.csv")) as f:
            self.assertEqual(f.read(), self.csv)

    def test_bad_input_names_the_value(self):
        out = os.path.join(self.dir, "bad")
        for extra, want in ((["--sizes", "40,30"], "30 after 40"),
                            (["--sizes", "40,500"], "500 labels, more than the pool's 320"),
                            (["--sizes", "40,80", "--strategies", "margn"], "unknown strategy 'margn'"),
                            (["--sizes", "40,x"], "'x' is not an integer")):
            p = smlab("active-learn", self.cfg, "--output", out, *extra, ok=False)
            self.assertNotEqual(p.returncode, 0, extra)
            self.assertIn(want, p.stderr, extra)
            self.assertNotIn("what():", p.stderr)

    def test_train_rows_and_train_limit(self):
        bad = os.path.join(self.dir, "bad_rows.txt")
        for content, want in (("3\n999\n", "bad_rows.txt:2: row 999 is past the 320 training texts"),
                              ("3\n3\n", "bad_rows.txt:2: row 3 is listed twice"),
                              ("3\nseven\n", "bad_rows.txt:2: 'seven' is not a row number")):
            with open(bad, "w") as f:
                f.write(content)
            p = smlab("train", self.cfg, f"data.train_rows={bad}", "--run-dir", os.path.join(self.dir, "r_bad"), ok=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(want, p.stderr)
        p = smlab("train", self.cfg, "data.train_limit=50", "--run-dir", os.path.join(self.dir, "r_lim"))
        self.assertIn("training on 50 of the 320 training texts", p.stderr)
        s = load(os.path.join(self.dir, "r_lim", "summary.json"))
        self.assertEqual(s["samples"], 50 * s["epochs"])
        p = smlab("train", self.cfg, "data.train_limit=50", "data.subset_seed=-1", "experiment.seed=4", "train.epochs=1",
                  "--run-dir", os.path.join(self.dir, "r_seed"))
        self.assertIn("(data.train_limit, subset_seed 4)", p.stderr)  # -1 follows experiment.seed
        p = smlab("train", self.cfg, "data.train_limit=50", f"data.train_rows={bad}", "--run-dir",
                  os.path.join(self.dir, "r_both"), ok=False)
        self.assertIn("both set", p.stderr)


if __name__ == "__main__":
    unittest.main()
