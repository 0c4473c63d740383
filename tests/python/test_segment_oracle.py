"""Oracle test for `smlab segment` (k-means, silhouette, Welch's t-test), written with the Python
standard library only (no numpy/scipy): runs the smlab binary on a generated CSV of posts and
recomputes from its segments.csv

  * the features (log1p, standardised with the population std),
  * the k-means fixed point (every point is nearest to the mean of its own cluster) and inertia,
  * the exact mean silhouette of the final labels (O(N^2) loops),
  * cluster sizes, mean reactions and status-type mix,
  * Welch's t, Welch-Satterthwaite df and the p-values, the latter by Simpson integration of the
    Student t density (independent of smlab's incomplete-beta continued fraction).

Run by CTest with SMLAB_BIN set; exits 77 (skipped) when it is unset, 1 on any failure.
"""
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

BIN = os.environ.get("SMLAB_BIN", "")
if not BIN or not os.path.exists(BIN):
    print("skipping: SMLAB_BIN is not set")
    sys.exit(77)

FEATURES = ["num_reactions", "num_comments", "num_shares"]


def t_tail(t, df, panels=200000):
    """P(T > t) for t >= 0 by Simpson's rule on x = t + u / (1 - u), u in [0, 1)."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    h = 1.0 / panels
    total = 0.0
    for i in range(panels + 1):
        u = i * h
        if u >= 1.0:
            f = 0.0
        else:
            x = t + u / (1 - u)
            f = c * (1 + x * x / df) ** (-(df + 1) / 2) / (1 - u) ** 2
        total += f * (1 if i in (0, panels) else (4 if i % 2 else 2))
    return total * h / 3


def make_posts(path, rng):
    centres = [(15, 1, 0), (120, 6, 2), (40, 150, 25), (600, 20, 80)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["status_id", "status_type", "num_reactions", "num_comments", "num_shares", "extra"])
        for i in range(160):
            g = i % 4
            kind = ["photo", "status", "video", "video" if i % 8 == 3 else "photo"][g]
            vals = [round(math.exp(math.log1p(c) + 0.2 * rng.gauss(0, 1))) for c in centres[g]]
            w.writerow([f"id{i}", kind] + vals + [""])


class SegmentOracle(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smlab_segment_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_against_pure_python(self):
        rng = random.Random(4)
        src = os.path.join(self.dir, "posts.csv")
        make_posts(src, rng)
        out = os.path.join(self.dir, "out")
        cmd = [BIN, "segment", src, "--output", out, "--features", ",".join(FEATURES), "--k-min", "2", "--k-max", "6",
               "--n-init", "4", "--device", "cpu", "--seed", "3"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(res.returncode, 0, res.stderr + res.stdout)
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        with open(os.path.join(out, "segments.csv")) as f:
            seg = list(csv.DictReader(f))
        with open(src) as f:
            posts = list(csv.DictReader(f))
        self.assertEqual(len(seg), len(posts))
        k = summary["k"]
        labels = [int(r["cluster"]) for r in seg]
        self.assertEqual(sorted(set(labels)), list(range(k)))

        # features: log1p, standardised with the population std over all rows
        cols = [[math.log1p(float(p[c])) for p in posts] for c in FEATURES]
        for j, col in enumerate(cols):
            m = sum(col) / len(col)
            sd = math.sqrt(sum((v - m) ** 2 for v in col) / len(col))
            cols[j] = [(v - m) / sd for v in col]
            self.assertAlmostEqual(summary["scaling"][j]["mean"], m, places=12)
            self.assertAlmostEqual(summary["scaling"][j]["std"], sd, places=12)
        x = list(zip(*cols))
        n = len(x)

        def d2(a, b):
            return sum((p - q) ** 2 for p, q in zip(a, b))

        # k-means fixed point and inertia
        cent = []
        for c in range(k):
            members = [x[i] for i in range(n) if labels[i] == c]
            cent.append([sum(v[j] for v in members) / len(members) for j in range(len(FEATURES))])
        inertia = sum(d2(x[i], cent[labels[i]]) for i in range(n))
        self.assertAlmostEqual(summary["inertia"], inertia, delta=1e-9 * inertia)
        for i in range(n):
            own = d2(x[i], cent[labels[i]])
            self.assertLessEqual(own, min(d2(x[i], cent[c]) for c in range(k)) + 1e-12, f"point {i}")

        # exact silhouette
        sizes = [labels.count(c) for c in range(k)]
        s_total = 0.0
        for i in range(n):
            sums = [0.0] * k
            for j in range(n):
                if j != i:
                    sums[labels[j]] += math.sqrt(d2(x[i], x[j]))
            li = labels[i]
            if sizes[li] == 1:
                continue
            a = sums[li] / (sizes[li] - 1)
            b = min(sums[c] / sizes[c] for c in range(k) if c != li)
            s_total += (b - a) / max(a, b)
        self.assertAlmostEqual(summary["silhouette"], s_total / n, places=9)
        scan = {row["k"]: row for row in summary["scan"]}
        self.assertEqual(summary["k_silhouette"], max(scan, key=lambda kk: scan[kk]["silhouette"]))

        # cluster descriptions and ordering by mean reactions
        reactions = [float(p["num_reactions"]) for p in posts]
        means = []
        for c in range(k):
            vals = [reactions[i] for i in range(n) if labels[i] == c]
            means.append(sum(vals) / len(vals))
            cj = summary["clusters"][c]
            self.assertEqual(cj["size"], len(vals))
            self.assertAlmostEqual(cj["mean"]["num_reactions"], means[-1], places=9)
            types = [posts[i]["status_type"] for i in range(n) if labels[i] == c]
            for t, share in cj["status_type_mix"].items():
                self.assertAlmostEqual(share, types.count(t) / len(types), places=12)
        self.assertEqual(means, sorted(means, reverse=True))

        # Welch's t-test, top cluster vs the rest
        a = [reactions[i] for i in range(n) if labels[i] == 0]
        b = [reactions[i] for i in range(n) if labels[i] != 0]
        ma, mb = sum(a) / len(a), sum(b) / len(b)
        va = sum((v - ma) ** 2 for v in a) / (len(a) - 1)
        vb = sum((v - mb) ** 2 for v in b) / (len(b) - 1)
        sa, sb = va / len(a), vb / len(b)
        t = (ma - mb) / math.sqrt(sa + sb)
        df = (sa + sb) ** 2 / (sa * sa / (len(a) - 1) + sb * sb / (len(b) - 1))
        w = summary["welch"]
        self.assertAlmostEqual(w["t"], t, places=9)
        self.assertAlmostEqual(w["df"], df, places=9)
        tail = t_tail(abs(t), df)
        self.assertAlmostEqual(w["p_two_sided"], 2 * tail, delta=1e-8)
        self.assertAlmostEqual(w["p_greater"], tail if t > 0 else 1 - tail, delta=1e-8)

    def test_bad_column_is_named(self):
        src = os.path.join(self.dir, "posts.csv")
        make_posts(src, random.Random(1))
        res = subprocess.run([BIN, "segment", src, "--output", os.path.join(self.dir, "o"), "--features", "num_reaction"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        self.assertIn("no column 'num_reaction'", res.stderr)
        self.assertIn("did you mean 'num_reactions'", res.stderr)


if __name__ == "__main__":
    unittest.main()
