"""Oracle test for `smlab select` and `smlab score --uncertainty` (issue 23): the uncertainty scores
and the selection equal a numpy
computation from the same probabilities, for every strategy, from CSV and JSONL score files in the
format `smlab score` writes; ensemble disagreement (variance, mutual information) from several
members' files; --exclude; and the errors for a budget larger than the pool, a file without
probabilities (a regression artifact's values) and a disagreement strategy with one member. Then a real
artifact (the quick-start MLP, one short epoch): `smlab score --uncertainty` writes a column equal to
numpy's formula on the written probabilities, in CSV and JSONL, and an unknown name is refused.

Run by CTest with SMLAB_BIN set; exits 77 (skipped) without it or numpy.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testenv  # noqa: E402

BIN = testenv.require_files("SMLAB_BIN")[0]
np, = testenv.require_modules("numpy")

CLASSES = ["negative", "neutral", "positive"]


def entropy(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


def numpy_scores(members, strategy):
    p = np.stack(members)  # [M, n, C]
    mean = p.mean(0)
    if strategy == "entropy":
        return entropy(mean)
    if strategy == "least_confident":
        return 1 - mean.max(1)
    if strategy == "margin":
        top = -np.sort(-mean, 1)
        return 1 - (top[:, 0] - top[:, 1])
    if strategy == "variance":
        return p.var(0).mean(1)
    if strategy == "mutual_information":
        return entropy(mean) - entropy(p).mean(0)
    raise ValueError(strategy)


def write_csv(path, ids, probs):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "confidence", "top_k"] + [f"p_{c}" for c in CLASSES])
        for i, p in zip(ids, probs):
            k = int(np.argmax(p))
            w.writerow([i, CLASSES[k], f"{p[k]:.9g}", CLASSES[k]] + [f"{x:.17g}" for x in p])


def write_jsonl(path, ids, probs):
    with open(path, "w") as f:
        for i, p in zip(ids, probs):
            f.write(json.dumps({"id": i, "label": CLASSES[int(np.argmax(p))], "probs": dict(zip(CLASSES, map(float, p)))})
                    + "\n")


class Select(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smlab_select_")
        rng = np.random.default_rng(5)
        self.ids = [f"t{i},x" if i == 3 else f"t{i}" for i in range(200)]  # one id needs CSV quoting
        logits = rng.normal(size=(3, 200, 3)) * np.array([0.5, 2.0, 4.0])[:, None, None]
        self.members = [np.exp(z) / np.exp(z).sum(1, keepdims=True) for z in logits]
        self.members[0][7] = [1.0, 0.0, 0.0]  # a certain row, with exact zeros
        self.files = []
        for m, p in enumerate(self.members):
            path = os.path.join(self.dir, f"m{m}.csv" if m != 1 else "m1.jsonl")
            (write_csv if path.endswith(".csv") else write_jsonl)(path, self.ids, p)
            self.files.append(path)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def select(self, *args):
        return subprocess.run([BIN, "select", *args], capture_output=True, text=True)

    def read(self, path):
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    def check(self, files, members, strategy, budget=25):
        out = os.path.join(self.dir, f"{strategy}.csv")
        r = self.select(*files, "--budget", str(budget), "--strategy", strategy, "--output", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = self.read(out)
        want = numpy_scores(members, strategy)
        order = np.argsort(-want, kind="stable")[:budget]
        self.assertEqual([row["id"] for row in rows], [self.ids[i] for i in order])
        np.testing.assert_allclose([float(row["uncertainty"]) for row in rows], want[order], rtol=1e-12, atol=1e-15)

    def test_single_model_strategies_csv(self):
        for s in ("entropy", "margin", "least_confident"):
            self.check(self.files[:1], self.members[:1], s)

    def test_single_model_strategies_jsonl(self):
        for s in ("entropy", "margin", "least_confident"):
            self.check(self.files[1:2], self.members[1:2], s)

    def test_ensemble_disagreement(self):
        for s in ("variance", "mutual_information", "entropy"):
            self.check(self.files, self.members, s)

    def test_exclude_and_random(self):
        first = os.path.join(self.dir, "first.csv")
        self.assertEqual(self.select(self.files[0], "--budget", "10", "--output", first).returncode, 0)
        second = os.path.join(self.dir, "second.csv")
        r = self.select(self.files[0], "--budget", "10", "--exclude", first, "--output", second)
        self.assertEqual(r.returncode, 0, r.stderr)
        a, b = [row["id"] for row in self.read(first)], [row["id"] for row in self.read(second)]
        self.assertFalse(set(a) & set(b))
        want = np.argsort(-numpy_scores(self.members[:1], "entropy"), kind="stable")[10:20]
        self.assertEqual(b, [self.ids[i] for i in want])
        rnd = [os.path.join(self.dir, f"r{s}.csv") for s in (1, 1, 2)]
        for path, seed in zip(rnd, (1, 1, 2)):
            self.assertEqual(self.select(self.files[0], "--strategy", "random", "--seed", str(seed), "--budget", "20",
                                         "--output", path).returncode, 0)
        self.assertEqual(self.read(rnd[0]), self.read(rnd[1]))
        self.assertNotEqual(self.read(rnd[0]), self.read(rnd[2]))

    def test_bad_input_names_the_value(self):
        r = self.select(self.files[0], "--budget", "500", "--output", os.path.join(self.dir, "x.csv"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--budget 500", r.stderr)
        self.assertIn("200", r.stderr)
        reg = os.path.join(self.dir, "reg.csv")
        with open(reg, "w") as f:
            f.write("id,value_0\na,1.5\n")
        r = self.select(reg, "--output", os.path.join(self.dir, "y.csv"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("reg.csv", r.stderr)
        self.assertIn("probabilities", r.stderr)
        r = self.select(self.files[0], "--strategy", "mutual_information", "--output", os.path.join(self.dir, "z.csv"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("two or more", r.stderr)
        for res in (r,):
            self.assertEqual(len(res.stderr.strip().splitlines()), 1, res.stderr)


class ScoreColumn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smlab_score_unc_")
        src = os.environ.get("SMLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
        run = os.path.join(cls.dir, "run")
        testenv.smlab(BIN, "train", os.path.join(src, "experiments/quickstart.yaml"), "--run-dir", run,
                      "train.epochs=1", "data.train_size=400", "--device", "cpu")
        cls.model = os.path.join(cls.dir, "model.pt")
        testenv.smlab(BIN, "export", run, "--output", cls.model, "--sample", "60")
        cls.rows = cls.model + ".sample.csv"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def score(self, out, strategy):
        return testenv.smlab(BIN, "score", "--model", self.model, "--input", self.rows, "--output",
                             os.path.join(self.dir, out), "--uncertainty", strategy, ok=False)

    def test_column_equals_numpy(self):
        for strategy in ("entropy", "margin", "least_confident"):
            r = self.score(f"{strategy}.csv", strategy)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(self.dir, f"{strategy}.csv"), newline="") as f:
                rows = list(csv.DictReader(f))
            cols = [c for c in rows[0] if c.startswith("p_")]
            p = np.array([[float(row[c]) for c in cols] for row in rows])
            got = np.array([float(row["uncertainty"]) for row in rows])
            np.testing.assert_allclose(got, numpy_scores([p], strategy), rtol=2e-5, atol=2e-6)  # CSV: 6 digits
            r = self.score(f"{strategy}.jsonl", strategy)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(self.dir, f"{strategy}.jsonl")) as f:
                objs = [json.loads(line) for line in f]
            p = np.array([[o["probs"][c[2:]] for c in cols] for o in objs])
            np.testing.assert_allclose([o["uncertainty"] for o in objs], numpy_scores([p], strategy), atol=1e-6)
            self.assertGreater(np.ptp(got), 0)

    def test_unknown_name_is_refused(self):
        r = self.score("x.csv", "entropie")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("entropy", r.stderr)


if __name__ == "__main__":
    unittest.main()
