"""Oracle tests for NMF and `smlab topics` (issue 23).

  * analysis::nmf against scikit-learn's NMF on the same matrix and the same custom start (W0, H0):
    solver 'mu' (multiplicative updates, Frobenius) and 'hals' (sklearn's 'cd', shuffle off), X dense
    and sparse; the final objective 0.5 ||X - WH||^2 agrees within 1e-6 relative (the issue asks 1%);
  * NNDSVD / NNDSVD-a against the formula of Boutsidis & Gallopoulos written out here on numpy's SVD;
  * `smlab topics` on a planted-topic corpus: the planted topics are recovered (Hungarian matching of
    top words, scipy's linear_sum_assignment), documents get their planted topic, prevalence per month
    follows the planted dates, coherent topics have positive NPMI, and months read from tweet ids
    (--date-field snowflake) equal the snowflake formula;
  * bad input: an empty corpus and k larger than the vocabulary are one-line errors naming the value.

Run by CTest with SMLAB_BIN and SMLAB_NMF_PROBE set; exits 77 (skipped) without them or scikit-learn.
"""
import csv
import datetime
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest
import warnings

BIN = os.environ.get("SMLAB_BIN", "")
PROBE = os.environ.get("SMLAB_NMF_PROBE", "")
if not BIN or not PROBE or not os.path.exists(BIN) or not os.path.exists(PROBE):
    print("skipping: SMLAB_BIN or SMLAB_NMF_PROBE is not set")
    sys.exit(77)
try:
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
except ImportError:
    print("skipping: scikit-learn or scipy is not installed (scripts/install_deps.sh installs them)")
    sys.exit(77)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def objective(x, w, h):
    return 0.5 * float(np.sum((x - w @ h) ** 2))


class NmfAgainstSklearn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smlab_nmf_")
        rng = np.random.default_rng(7)
        cls.x = rng.random((30, 4)) @ rng.random((4, 22)) + 0.05 * rng.random((30, 22))
        cls.x[rng.random(cls.x.shape) < 0.3] = 0  # some zeros, as a TF-IDF matrix has
        cls.w0 = rng.random((30, 5))
        cls.h0 = rng.random((5, 22))
        for name in ("x", "w0", "h0"):
            np.savetxt(os.path.join(cls.dir, name + ".csv"), getattr(cls, name), delimiter=",", fmt="%.17g")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def probe(self, *args):
        out = subprocess.run([PROBE, *args], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def sklearn_fit(self, solver, iters):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = NMF(n_components=5, init="custom", solver=solver, beta_loss="frobenius", max_iter=iters, tol=0.0,
                    **({"shuffle": False} if solver == "cd" else {}))
            w = m.fit_transform(self.x.copy(), W=self.w0.copy(), H=self.h0.copy())
        return objective(self.x, w, m.components_)

    def check(self, ours, theirs, sklearn_solver, iters, sparse):
        p = lambda f: os.path.join(self.dir, f)  # noqa: E731
        r = self.probe("fit", p("x.csv"), p("w0.csv"), p("h0.csv"), ours, str(iters), *(["sparse"] if sparse else []))
        want = self.sklearn_fit(sklearn_solver, iters)
        got = r["objective"][-1]
        mine = objective(self.x, np.array(r["w"]), np.array(r["h"]))
        print(f"{ours} {iters} it{' sparse' if sparse else ''}: smlab {got:.10g}, sklearn {want:.10g}, "
              f"rel. diff {abs(got - want) / want:.2e}")
        self.assertAlmostEqual(got, mine, delta=1e-9 * max(1.0, mine))  # the reported objective is W, H's
        self.assertLess(abs(got - want) / want, 1e-6)
        self.assertLess(got, r["objective"][0])  # it did descend

    def test_mu_dense(self):
        self.check("mu", "theirs", "mu", 120, False)

    def test_mu_sparse(self):
        self.check("mu", "theirs", "mu", 120, True)

    def test_hals_dense(self):
        self.check("hals", "theirs", "cd", 60, False)

    def test_hals_sparse(self):
        self.check("hals", "theirs", "cd", 60, True)

    def test_nndsvd_is_the_published_formula(self):
        k = 4
        u, s, vt = np.linalg.svd(self.x, full_matrices=False)
        w, h = np.zeros((self.x.shape[0], k)), np.zeros((k, self.x.shape[1]))
        w[:, 0], h[0] = np.sqrt(s[0]) * np.abs(u[:, 0]), np.sqrt(s[0]) * np.abs(vt[0])
        for j in range(1, k):
            a, b = u[:, j], vt[j]
            ap, bp, an, bn = np.maximum(a, 0), np.maximum(b, 0), np.abs(np.minimum(a, 0)), np.abs(np.minimum(b, 0))
            mp, mn = np.linalg.norm(ap) * np.linalg.norm(bp), np.linalg.norm(an) * np.linalg.norm(bn)
            uu, vv, sig = (ap / np.linalg.norm(ap), bp / np.linalg.norm(bp), mp) if mp > mn else \
                (an / np.linalg.norm(an), bn / np.linalg.norm(bn), mn)
            w[:, j], h[j] = np.sqrt(s[j] * sig) * uu, np.sqrt(s[j] * sig) * vv
        w[w < 1e-6], h[h < 1e-6] = 0, 0
        r = self.probe("nndsvd", os.path.join(self.dir, "x.csv"), str(k))
        np.testing.assert_allclose(np.array(r["w"]), w, atol=1e-9)
        np.testing.assert_allclose(np.array(r["h"]), h, atol=1e-9)
        wa, ha = w.copy(), h.copy()
        wa[wa == 0], ha[ha == 0] = self.x.mean(), self.x.mean()
        r = self.probe("nndsvd", os.path.join(self.dir, "x.csv"), str(k), "a")
        np.testing.assert_allclose(np.array(r["w"]), wa, atol=1e-9)
        np.testing.assert_allclose(np.array(r["h"]), ha, atol=1e-9)


def planted_corpus(path, docs=300, topics=5, words=8, seed=3):
    rng = random.Random(seed)
    letters = "bcdfghjklmnpqrstvwxz"
    make = lambda: "".join(rng.choice(letters) for _ in range(7))  # noqa: E731
    planted = [[make() for _ in range(words)] for _ in range(topics)]
    background = [make() for _ in range(40)]
    labels, rows = [], []
    for i in range(docs):
        t = i % topics
        text = [rng.choice(planted[t]) for _ in range(10)] + [rng.choice(background) for _ in range(3)]
        rng.shuffle(text)
        # topic 0 appears only in 2016-02; the others in both months
        month = "2016-02" if t == 0 else rng.choice(["2016-01", "2016-02"])
        rows.append((f"d{i}", " ".join(text), f"{month}-15"))
        labels.append(t)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["id", "text", "date"])
        w.writerows(rows)
    return planted, labels


class TopicsCli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smlab_topics_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def topics(self, *args):
        return subprocess.run([BIN, "topics", *args], capture_output=True, text=True)

    def test_planted_topics_are_recovered(self):
        corpus = os.path.join(self.dir, "c.tsv")
        planted, labels = planted_corpus(corpus)
        out = os.path.join(self.dir, "out")
        r = self.topics(corpus, "--k", "5", "--top-terms", "8", "--min-df", "2", "--max-df", "0.9",
                        "--date-field", "date", "--output", out, "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = read_json(os.path.join(out, "topics.json"))
        found = [[t for t, _ in topic["terms"]] for topic in j["topics"]]
        overlap = np.array([[len(set(p) & set(f)) for f in found] for p in planted])
        rows, cols = linear_sum_assignment(-overlap)
        print("overlap of the matched topics:", overlap[rows, cols].tolist())
        self.assertTrue((overlap[rows, cols] >= 7).all(), overlap)
        match = dict(zip(rows, cols))
        with open(os.path.join(out, "doc_topics.csv")) as f:
            dominant = [int(r["topic"]) for r in csv.DictReader(f)]
        agree = np.mean([dominant[i] == match[labels[i]] for i in range(len(labels))])
        self.assertGreater(agree, 0.97)
        t0 = j["topics"][match[0]]
        months = dict(t0["prevalence"])
        self.assertLess(months["2016-01"], 0.05)  # topic 0 was planted in February only
        self.assertGreater(months["2016-02"], 0.2)
        for topic in j["topics"]:
            self.assertGreater(topic["npmi"], 0.0)
        self.assertEqual(len(j["topics"][0]["docs"]), 5)

    def test_months_from_tweet_ids(self):
        ids = [264183816548130816, 619969366986235905, 802264883937902592]
        path = os.path.join(self.dir, "t.tsv")
        with open(path, "w") as f:
            for i, tid in enumerate(ids * 6):
                f.write(f"{tid}\tneutral\tsome words here and there number {i % 3} kind{i % 3}\n")
        out = os.path.join(self.dir, "o")
        r = self.topics(path, "--id-field", "0", "--text-field", "2", "--date-field", "snowflake", "--k", "2",
                        "--min-df", "1", "--max-df", "1.0", "--output", out, "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = read_json(os.path.join(out, "topics.json"))
        want = sorted({datetime.datetime.fromtimestamp(((t >> 22) + 1288834974657) / 1000,
                                                       datetime.timezone.utc).strftime("%Y-%m") for t in ids})
        self.assertEqual([m for m, _ in j["topics"][0]["prevalence"]], want)

    def test_bad_input_names_the_value(self):
        empty = os.path.join(self.dir, "empty.tsv")
        with open(empty, "w") as f:
            f.write("id\ttext\n")
        r = self.topics(empty, "--output", os.path.join(self.dir, "e"))
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("empty", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        corpus = os.path.join(self.dir, "c.tsv")
        planted_corpus(corpus, docs=40)
        r = self.topics(corpus, "--k", "500", "--min-df", "2", "--output", os.path.join(self.dir, "k"))
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("k = 500", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
