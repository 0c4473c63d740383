"""Shared fixtures of the `smlab report` tests: tiny real runs made with the built binary (a classifier
on generated images, evaluated and calibrated; a sweep with a diverging point; a segment output; a
forecaster with forecast-eval), and a parser for the report's SVG data attributes."""
import json
import math
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

SMLAB = os.path.abspath(os.environ.get("SMLAB_BIN", "build/smlab"))


def smlab(*args, cwd=None, check=True):
    p = subprocess.run([SMLAB] + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)
    if check:
        assert p.returncode == 0, "smlab %s: %s%s" % (args[0], p.stdout, p.stderr)
    return p


def require_binary():
    if not Path(SMLAB).exists():
        print("SKIP: %s is not built" % SMLAB)
        sys.exit(77)


IMAGES = """model: {name: small_cnn, channels: [8, 16]}
data: {name: synthetic_images, channels: 3, size: 16, classes: 4, noise: 3.0, train_size: 384, val_size: 128,
       test_size: 160, batch_size: 32, workers: 0}
optim: {name: sgd, lr: 0.05}
train: {epochs: 3, log_every: 4, progress: none, tensorboard: false}
experiment: {device: cpu, threads: 1, seed: 3}
"""


def image_run(d):
    """A small CNN on generated gratings, then `smlab eval` and `smlab calibrate`."""
    (d / "images.yaml").write_text(IMAGES)
    run = d / "images"
    smlab("train", d / "images.yaml", "--run-dir", run)
    smlab("eval", run, "--top-wrong", "8")
    smlab("calibrate", run)
    return run


BLOBS = """model: {name: mlp, hidden: [16]}
data: {name: synthetic_blobs, features: 4, classes: 3, spread: 2.0, train_size: 240, val_size: 60, test_size: 60,
       batch_size: 30, workers: 0}
optim: {name: sgd, lr: 0.05}
train: {epochs: 2, log_every: 2, progress: none, tensorboard: false}
experiment: {device: cpu, threads: 1}
"""


def sweep(d):
    """2 points x 2 seeds; the second point's learning rate diverges (a failed point)."""
    (d / "blobs.yaml").write_text(BLOBS)
    (d / "sw.yaml").write_text("base: blobs.yaml\nseeds: [0, 1]\noutput_dir: %s\ngrid:\n  optim.lr: [0.05, 1.0e+30]\n"
                               "metrics: [val.top1, test.top1]\nstats: {metric: val.top1, baseline: 0}\n" % (d / "sweeps"))
    smlab("sweep", d / "sw.yaml", cwd=d, check=False)  # a failed point makes the sweep exit non-zero
    return d / "sweeps" / "sw"


def segment(d):
    rng = np.random.default_rng(0)
    rows = ["status_id,status_type,num_reactions,num_comments,num_shares"]
    for g, (r, c, s) in enumerate([(20, 2, 1), (300, 40, 10), (2000, 600, 90)]):
        for i in range(60):
            rows.append("%d_%d,%s,%d,%d,%d" % (g, i, ["photo", "video", "status"][i % 3], rng.poisson(r), rng.poisson(c), rng.poisson(s)))
    (d / "posts.csv").write_text("\n".join(rows) + "\n")
    out = d / "segments"
    smlab("segment", d / "posts.csv", "--output", out, "--features", "num_reactions,num_comments,num_shares",
          "--describe", "num_reactions,num_comments", "--k-max", "5", "--n-init", "2", "--device", "cpu")
    return out


def forecast(d):
    """Hourly series with a daily cycle and a labelled spike; lstm_forecaster; forecast-eval."""
    series = d / "gen"
    series.mkdir()
    rng = np.random.default_rng(5)
    t0 = 1424988000
    stamp = lambda t: __import__("time").strftime("%Y-%m-%d %H:%M:%S", __import__("time").gmtime(t))
    for s in range(2):
        lines = ["timestamp,value"]
        for t in range(720):
            y = 40 + 10 * s + 25 * math.sin(2 * math.pi * t / 24) + rng.normal(0, 3)
            if s == 0 and 650 <= t < 653:
                y += 300
            lines.append("%s,%d" % (stamp(t0 + 3600 * t), max(0, round(y))))
        (series / ("s%d.csv" % s)).write_text("\n".join(lines) + "\n")
    (d / "windows.json").write_text(json.dumps({"gen/s0.csv": [[stamp(t0 + 3600 * 645), stamp(t0 + 3600 * 660)]], "gen/s1.csv": []}))
    (d / "fc.yaml").write_text(
        "experiment: {device: cpu, seed: 0, threads: 1}\nmodel: {name: lstm_forecaster, hidden: 8, layers: 1, head_hidden: 0}\n"
        "data: {name: time_series_windows, path: %s, input_len: 48, patch: 4, horizons: [1, 24], season: 24, transform: log1p, "
        "train_fraction: 0.6, val_fraction: 0.2, batch_size: 64, workers: 0}\noptim: {name: adamw, lr: 0.01}\nloss: {name: l1}\n"
        "train: {epochs: 2, progress: none, tensorboard: false}\n" % series)
    run = d / "fc"
    smlab("train", d / "fc.yaml", "--run-dir", run)
    smlab("forecast-eval", run, "--labels", d / "windows.json", "--nab-results", "none", "--threshold", "4", "--window", "96",
          "--min-count", "24")
    return run


class Parsed(HTMLParser):
    """Every start tag as (tag, attrs, id of the enclosing <svg>), and the ids of the sections."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.sections, self._svg = [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self._svg.append(a.get("id"))
        if tag == "section":
            self.sections.append(a.get("id"))
        self.tags.append((tag, a, self._svg[-1] if self._svg else None))

    def handle_endtag(self, tag):
        if tag == "svg" and self._svg:
            self._svg.pop()

    def in_svg(self, svg_id, cls=None):
        return [a for t, a, s in self.tags if s == svg_id and (cls is None or a.get("class") == cls)]

    def values(self, svg_id, cls):
        return [float(a["data-value"]) for a in self.in_svg(svg_id, cls) if "data-value" in a]

    def series(self, svg_id):
        """{name: (x or None, y)} of the lines of a chart."""
        out = {}
        for a in self.in_svg(svg_id, "series"):
            if "data-values" not in a:
                continue
            y = [float(v) for v in a["data-values"].split()] if a["data-values"] else []
            x = [float(v) for v in a["data-x"].split()] if a.get("data-x") else None
            out[a["data-name"]] = (x, y)
        return out


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b)) or (math.isnan(a) and math.isnan(b))
