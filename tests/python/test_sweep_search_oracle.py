"""Oracle test for `random:` sweeps: the drawn points follow the declared distributions.

`smlab sweep FILE --dry-run` lists 400 points drawn from log-uniform, uniform, int and choice
distributions. With the draw's seed fixed the test is deterministic; it checks

  * log-uniform and uniform: a Kolmogorov-Smirnov test against scipy's loguniform / uniform (p > 0.01),
    and that the same test against the wrong distribution (uniform for the log-uniform key) rejects
    with p < 1e-6, so the check has power;
  * int and choice: a chi-square goodness-of-fit test against equal probabilities, every value seen;
  * the same file gives the same points, another seed other points;
  * an invalid range, a non-positive log-uniform bound and a misspelt distribution are refused naming
    the key.

Run by CTest with SMLAB_BIN set; exits 77 (skipped) when it or scipy is missing, 1 on any failure.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep_common import BIN, SweepFolderCase  # noqa: E402  (exits 77 without SMLAB_BIN or scipy)

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
SPACE = ("    optim.lr: {log_uniform: [1.0e-4, 0.1]}\n"
         "    optim.weight_decay: {uniform: [0.0, 0.01]}\n"
         "    train.epochs: {int: [1, 5]}\n"
         "    model.hidden: {choice: [[8], [16, 16], [32]]}\n")


class RandomSearchOracle(SweepFolderCase):
    prefix = "smlab_sweep_search_"

    def dry_run(self, body, name="r"):
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write("base: base.yaml\nseeds: [0]\n" + body)
        return subprocess.run([BIN, "sweep", path, "--dry-run"], capture_output=True, text=True)

    def points(self, seed, samples=400):
        res = self.dry_run(f"random:\n  samples: {samples}\n  seed: {seed}\n  space:\n" + SPACE)
        self.assertEqual(res.returncode, 0, res.stderr)
        pts = []
        for line in res.stdout.splitlines():
            if line.startswith("point "):
                label = line.split(": ", 1)[1]
                pts.append(dict(re.findall(r"(\S+)=(\[[^\]]*\]|\S+)", label)))
        self.assertEqual(len(pts), samples)
        return pts, res.stdout

    def test_draws_follow_the_declared_distributions(self):
        pts, out = self.points(3)
        lr = np.array([float(p["optim.lr"]) for p in pts])
        wd = np.array([float(p["optim.weight_decay"]) for p in pts])
        self.assertTrue(((lr >= 1e-4) & (lr <= 0.1)).all())
        self.assertTrue(((wd >= 0) & (wd <= 0.01)).all())
        p_lr = stats.kstest(lr, stats.loguniform(1e-4, 0.1).cdf).pvalue
        p_wd = stats.kstest(wd, stats.uniform(0, 0.01).cdf).pvalue
        print(f"KS p-values: log-uniform lr {p_lr:.3f}, uniform weight_decay {p_wd:.3f}")
        self.assertGreater(p_lr, 0.01)
        self.assertGreater(p_wd, 0.01)
        self.assertLess(stats.kstest(lr, stats.uniform(1e-4, 0.1 - 1e-4).cdf).pvalue, 1e-6)  # the test has power

        epochs = [int(p["train.epochs"]) for p in pts]
        counts = [epochs.count(k) for k in range(1, 6)]
        self.assertEqual(sum(counts), len(pts))  # nothing outside 1..5
        self.assertTrue(all(c > 0 for c in counts), counts)
        self.assertGreater(stats.chisquare(counts).pvalue, 0.01, counts)
        hidden = [p["model.hidden"] for p in pts]
        counts = [hidden.count(v) for v in ("[8]", "[16, 16]", "[32]")]
        self.assertEqual(sum(counts), len(pts))
        self.assertGreater(stats.chisquare(counts).pvalue, 0.01, counts)

        self.assertEqual(self.points(3)[1], out)  # seeded: same file, same points
        self.assertNotEqual(self.points(4)[1], out)

    def test_bad_distributions_are_named(self):
        cases = [
            ("optim.lr: {log_uniform: [0, 0.1]}", "random.space.optim.lr: log_uniform: low must be > 0"),
            ("optim.lr: {uniform: [0.5, 0.1]}", "random.space.optim.lr: uniform: low 0.5 must be below high 0.1"),
            ("train.epochs: {int: [5, 1]}", "random.space.train.epochs: int: low 5 is above high 1"),
            ("optim.lr: {loguniform: [1.0e-4, 0.1]}", "did you mean 'log_uniform'"),
            ("model.hidden: {choice: []}", "random.space.model.hidden: choice: expected a non-empty list"),
        ]
        for space, message in cases:
            res = self.dry_run(f"random:\n  samples: 3\n  space:\n    {space}\n", "bad")
            self.assertEqual(res.returncode, 2, space)
            self.assertIn(message, res.stderr, space)
            self.assertIn("bad.yaml", res.stderr)
        res = self.dry_run("random:\n  samples: 3\n  space: {optim.lr: {uniform: [0.1, 0.2]}}\n"
                           "grid:\n  optim.lr: [0.1]\n", "both")
        self.assertEqual(res.returncode, 2)
        self.assertIn("give one of grid, points or random", res.stderr)


if __name__ == "__main__":
    unittest.main()
