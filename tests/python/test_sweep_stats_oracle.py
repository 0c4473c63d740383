"""Oracle test for the statistics in `smlab sweep`'s results.csv and `--compare`, against scipy.

Prepared sweeps: run folders p<i>-s<seed>/ holding only a finished summary.json with known metric
values, so `smlab sweep FILE` trains nothing and just writes the tables. From the `point` rows of
results.csv (printed at 12 significant digits) it checks, within 1e-9:

  * the Student t confidence intervals of each point's mean (scipy.stats.t.interval) and of the
    paired difference,
  * the paired t-test p-values (scipy.stats.ttest_rel),
  * the Holm-Bonferroni adjustment (scipy has none: the step-down formula written out here, fed with
    scipy's p-values),
  * Cohen's d_z,
  * the sign-flip permutation test: exact for n <= 16 (scipy.stats.permutation_test with
    permutation_type='samples' and every pattern enumerated, and a plain enumeration here), and a
    Monte Carlo estimate above that (17 seeds: within 0.01 of scipy's exact value);

and the verdicts, a failed (missing) run shown rather than dropped, and the errors for a baseline that
is not a point and for --compare on fewer than 2 shared seeds.

Run by CTest with SMLAB_BIN set; exits 77 (skipped) when it or scipy is missing, 1 on any failure.
"""
import csv
import itertools
import json
import os
import random
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep_common import BIN, SweepFolderCase  # noqa: E402  (exits 77 without SMLAB_BIN or scipy)

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
TOL = 1e-9


def holm(p):
    order = sorted(range(len(p)), key=lambda i: p[i])
    adj, running = [0.0] * len(p), 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - j) * p[i]))
        adj[i] = running
    return adj


def enumerate_sign_flip(d):
    obs = abs(sum(d))
    hits = sum(1 for s in itertools.product((1, -1), repeat=len(d))
               if abs(sum(a * b for a, b in zip(s, d))) >= obs * (1 - 1e-12))
    return hits / 2 ** len(d)


def scipy_sign_flip(x, y):
    res = stats.permutation_test((np.asarray(x), np.asarray(y)), lambda a, b, axis: np.mean(a - b, axis=axis),
                                 permutation_type="samples", n_resamples=np.inf, alternative="two-sided",
                                 vectorized=True)
    return float(res.pvalue)


class SweepStatsOracle(SweepFolderCase):
    prefix = "smlab_sweep_stats_"

    def prepare(self, name, lrs, seeds, values, stats_yaml, metric="test.top1", skip=()):
        """A sweep over optim.lr with finished summaries holding values[point][k] for seeds[k]."""
        out = os.path.join(self.dir, "out")
        sweep = os.path.join(self.dir, name + ".yaml")
        with open(sweep, "w") as f:
            f.write(f"base: base.yaml\nseeds: {json.dumps(seeds)}\noutput_dir: {out}\n"
                    f"points:\n" + "".join(f"  - {{optim.lr: {lr}}}\n" for lr in lrs) +
                    f"metrics: [{metric}, val.top1]\n" + stats_yaml)
        split, key = metric.split(".")
        for i, row in enumerate(values):
            for seed, v in zip(seeds, row):
                run = os.path.join(out, name, f"p{i}-s{seed}")
                os.makedirs(run, exist_ok=True)
                summary = {"status": "completed", "val": {"top1": 0.5}, "train_seconds": 1.0}
                if (i, seed) not in skip:  # a skipped run finished without reporting the metric
                    summary.setdefault(split, {})[key] = v
                with open(os.path.join(run, "summary.json"), "w") as f:
                    json.dump(summary, f)
        return sweep, os.path.join(out, name)

    def read(self, folder, name):
        with open(os.path.join(folder, name)) as f:
            return f.read()

    def sweep(self, *args):
        return subprocess.run([BIN, "sweep", *args], capture_output=True, text=True)

    def point_rows(self, folder):
        with open(os.path.join(folder, "results.csv")) as f:
            rows = list(csv.DictReader(f))
        return [r for r in rows if r["row"] == "run"], [r for r in rows if r["row"] == "point"]

    def check_against_scipy(self, values, points, baseline, alpha, seeds_of=None):
        """The point rows' CIs, tests and Holm adjustment, recomputed with scipy on the exact inputs."""
        level = 1 - alpha
        tested, p_raw = [], []
        for i, row in enumerate(values):
            x = np.asarray(row, dtype=float)
            r = points[i]
            self.assertEqual(int(r["n"]), len(x))
            self.assertAlmostEqual(float(r["mean"]), x.mean(), delta=TOL)
            self.assertAlmostEqual(float(r["std"]), x.std(ddof=1), delta=TOL)
            if len(x) < 10:
                lo, hi = stats.t.interval(level, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
                self.assertEqual(r["ci_method"], "t")
                self.assertAlmostEqual(float(r["ci_low"]), lo, delta=TOL)
                self.assertAlmostEqual(float(r["ci_high"]), hi, delta=TOL)
            if i == baseline:
                self.assertEqual(r["verdict"], "baseline")
                continue
            y = np.asarray(values[baseline], dtype=float)
            t = stats.ttest_rel(x, y)
            d = x - y
            self.assertAlmostEqual(float(r["diff"]), d.mean(), delta=TOL)
            self.assertAlmostEqual(float(r["t"]), t.statistic, delta=TOL * max(1, abs(t.statistic)))
            self.assertAlmostEqual(float(r["p_t"]), t.pvalue, delta=TOL)
            lo, hi = stats.t.interval(level, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
            self.assertAlmostEqual(float(r["diff_ci_low"]), lo, delta=TOL)
            self.assertAlmostEqual(float(r["diff_ci_high"]), hi, delta=TOL)
            self.assertAlmostEqual(float(r["d_z"]), d.mean() / d.std(ddof=1), delta=TOL)
            if len(d) <= 16:
                self.assertEqual(r["signflip_exact"], "true")
                self.assertEqual(int(r["signflip_patterns"]), 2 ** len(d))
                self.assertAlmostEqual(float(r["p_signflip"]), scipy_sign_flip(x, y), delta=1e-12)
                if len(d) <= 12:
                    self.assertAlmostEqual(float(r["p_signflip"]), enumerate_sign_flip(list(d)), delta=1e-12)
            else:
                self.assertEqual(r["signflip_exact"], "false")
                self.assertEqual(int(r["signflip_patterns"]), 100000)
                self.assertAlmostEqual(float(r["p_signflip"]), scipy_sign_flip(x, y), delta=0.01)
            tested.append(i)
            p_raw.append(t.pvalue)
        for i, adj in zip(tested, holm(p_raw)):
            self.assertAlmostEqual(float(points[i]["p_holm"]), adj, delta=TOL)
        return {i: (p, adj) for i, p, adj in zip(tested, p_raw, holm(p_raw))}

    def test_grid_against_scipy_and_verdicts(self):
        rng = random.Random(21)
        seeds = [0, 1, 2, 3, 4, 5]
        noise = [rng.gauss(0, 0.01) for _ in seeds]  # shared per seed: pairing removes it
        shifts = [0.0, 0.03, 0.002, -0.025, 0.0]
        values = [[0.8 + s + n + rng.gauss(0, 0.004) for n in noise] for s in shifts]
        sweep, folder = self.prepare("grid", [0.1, 0.2, 0.3, 0.4, 0.5], seeds, values, "stats: {baseline: 0}\n")
        res = self.sweep(sweep)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("0 runs to do", res.stdout)
        runs, points = self.point_rows(folder)
        self.assertEqual(len(runs), 30)
        self.assertEqual(len(points), 5)
        ps = self.check_against_scipy(values, points, 0, 0.05)
        # The verdicts follow the Holm-adjusted p and the direction (larger top1 is better).
        for i, (p, adj) in ps.items():
            v = points[i]["verdict"]
            if adj < 0.05:
                self.assertEqual(v, ("better" if shifts[i] > 0 else "worse") + ", significant after Holm")
            elif p < 0.05:
                self.assertIn("not significant after Holm", v)
            else:
                self.assertEqual(v, "no detectable difference")
        self.assertEqual(points[1]["verdict"], "better, significant after Holm")
        self.assertEqual(points[3]["verdict"], "worse, significant after Holm")
        md = self.read(folder, "results.md")
        self.assertIn("**better, significant after Holm**", md)
        self.assertIn("How to read this", md)

        # --compare by label and by index gives the same numbers as scipy (printed to 3 significant digits).
        cmp = self.sweep(sweep, "--compare", "optim.lr=0.2", "0")
        self.assertEqual(cmp.returncode, 0, cmp.stderr)
        t = stats.ttest_rel(values[1], values[0])
        self.assertIn(f"p = {t.pvalue:.3g}", cmp.stdout)
        self.assertIn("A is better than B", cmp.stdout)
        self.assertIn("exact, all 64 sign patterns", cmp.stdout)
        self.assertEqual(self.sweep(sweep, "--compare", "1", "0").stdout, cmp.stdout)

    def test_smaller_is_better_missing_runs_bootstrap_and_alpha(self):
        rng = random.Random(5)
        seeds = list(range(12))
        values = [[0.5 + rng.gauss(0, 0.02) for _ in seeds], [0.45 + rng.gauss(0, 0.02) for _ in seeds],
                  [0.5 + rng.gauss(0, 0.02) for _ in seeds]]
        # point 2 reports the metric for seed 0 only: shown, counted, not tested
        skip = {(2, s) for s in seeds[1:]}
        sweep, folder = self.prepare("loss", [0.1, 0.2, 0.3], seeds, values,
                                     "stats: {metric: test.loss, baseline: 0, alpha: 0.1}\n", "test.loss", skip)
        res = self.sweep(sweep, "--dry-run")
        self.assertEqual(res.returncode, 0, res.stderr)
        res = self.sweep(sweep)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("0 runs to do", res.stdout)
        runs, points = self.point_rows(folder)
        self.assertEqual(sum(1 for r in runs if r["point"] == "2" and r["test.loss"] == ""), 11)
        self.check_against_scipy(values[:2], points[:2], 0, 0.1)
        for r in points[:2]:  # 12 seeds: bootstrap percentile interval around the mean
            self.assertEqual(r["ci_method"], "bootstrap")
            self.assertLess(float(r["ci_low"]), float(r["mean"]))
            self.assertGreater(float(r["ci_high"]), float(r["mean"]))
        self.assertEqual(points[1]["verdict"], "better, significant after Holm")  # lower loss is better
        self.assertEqual(points[2]["verdict"], "not tested: 1 shared seed (2 needed)")
        self.assertEqual(points[2]["status"], "12/12 finished")
        self.assertEqual(points[2]["n"], "1")
        md = self.read(folder, "results.md")
        self.assertIn(" (1/12 runs) |", md)
        self.assertIn("90% CI", md)
        cmp = self.sweep(sweep, "--compare", "2", "0")
        self.assertEqual(cmp.returncode, 2)
        self.assertIn("--compare: points 2 and 0 share 1 seed(s)", cmp.stderr)

    def test_monte_carlo_above_sixteen_seeds(self):
        rng = random.Random(9)
        seeds = list(range(17))
        base = [0.7 + rng.gauss(0, 0.02) for _ in seeds]
        values = [base, [b + 0.004 + rng.gauss(0, 0.01) for b in base]]
        sweep, folder = self.prepare("many", [0.1, 0.2], seeds, values, "")
        res = self.sweep(sweep)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        _, points = self.point_rows(folder)
        self.check_against_scipy(values, points, 0, 0.05)

    def test_bad_baseline_is_named(self):
        sweep, _ = self.prepare("bad", [0.1, 0.2], [0, 1], [[0.5, 0.6], [0.5, 0.6]], "stats: {baseline: optim.lr=0.3}\n")
        res = self.sweep(sweep)
        self.assertEqual(res.returncode, 2)
        self.assertIn("stats.baseline: 'optim.lr=0.3' is not a point of the sweep", res.stderr)
        self.assertIn("0: optim.lr=0.1; 1: optim.lr=0.2", res.stderr)


if __name__ == "__main__":
    unittest.main()
