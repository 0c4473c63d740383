"""`smlab report`: the numbers drawn in the page equal the files they come from, every section is
there, and malformed or partial inputs give a report that says what is missing, or a one-line error.

Fixtures are tiny real runs (report_common.py): a CNN on generated images (eval + calibrate), a
2x2 sweep whose second point diverges, a segment output and a forecaster with forecast-eval. From
each report.html the SVG data attributes (data-value on bars, cells, bins and markers, data-values
on lines) are parsed and compared with metrics.jsonl, eval_test_best.json, calibration.json,
results.csv, summary.json, forecast_eval.json and anomaly_scores.csv.
"""
import base64
import csv
import json
import re
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import report_common as rc  # noqa: E402

OK_STATUS = {"completed", "max_steps", "early_stopped"}


def report(path, *extra, check=True):
    p = rc.smlab("report", path, *extra, check=check)
    return p


def page(path):
    return rc.Parsed((Path(path) / "report.html").read_text())


class ReportNumbers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="smlab_report_"))
        cls.rundir = rc.image_run(cls.tmp)
        cls.sweep = rc.sweep(cls.tmp)
        cls.seg = rc.segment(cls.tmp)
        cls.fc = rc.forecast(cls.tmp)
        for p in (cls.rundir, cls.sweep, cls.seg, cls.fc):
            report(p)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assertAllClose(self, got, want, tol=1e-9):
        self.assertEqual(len(got), len(want), (got, want))
        for g, w in zip(got, want):
            self.assertTrue(rc.close(g, w, tol), (g, w))

    def test_no_external_reference(self):
        for p in (self.rundir, self.sweep, self.seg, self.fc):
            text = (p / "report.html").read_text()
            self.assertIsNone(re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|//|ftp:)", text, re.I), p)
            self.assertNotIn("http://", text)
            self.assertNotIn("https://", text)
            self.assertNotIn("<script", text)
            self.assertIn("default-src 'none'", text)

    def test_run_curves(self):
        h = page(self.rundir)
        for s in ("overview", "curves", "lr", "throughput", "per-class", "confusion", "reliability", "wrong", "config", "meta"):
            self.assertIn(s, h.sections)
        recs = [json.loads(l) for l in (self.rundir / "metrics.jsonl").read_text().splitlines()]
        train = [r for r in recs if r["split"] == "train"]
        val = [r for r in recs if r["split"] == "val"]
        x, y = h.series("curve-loss")["train"]
        self.assertAllClose(x, [r["step"] for r in train])
        self.assertAllClose(y, [r["loss"] for r in train])
        self.assertAllClose(h.series("curve-loss")["val"][1], [r["loss"] for r in val])
        self.assertAllClose(h.series("curve-top1")["val"][1], [r["top1"] for r in val])
        self.assertAllClose(h.values("curve-top1", "point")[: len(val)], [r["top1"] for r in val])
        self.assertAllClose(h.series("curve-lr")["learning rate"][1], [r["lr"] for r in train])
        rate = [(b["samples"] - a["samples"]) / (b["seconds"] - a["seconds"]) for a, b in zip(train, train[1:])]
        self.assertAllClose(h.series("curve-throughput")["samples per second"][1], rate, 1e-9)

    def test_run_evaluation(self):
        h = page(self.rundir)
        ev = json.loads((self.rundir / "eval_test_best.json").read_text())
        self.assertAllClose(h.values("per-class-f1", "bar"), [c["f1"] for c in ev["per_class"]])
        cells = h.in_svg("confusion-matrix", "cell")
        self.assertEqual(len(cells), 16)
        for c in cells:
            self.assertEqual(float(c["data-value"]), ev["confusion"][int(c["data-row"])][int(c["data-col"])])
        cal = json.loads((self.rundir / "calibration.json").read_text())["splits"]["test"]
        bins = h.in_svg("reliability-diagram", "bin")
        for which, group in (("before", [b for b in bins if b["data-count"]]),):
            want = [b for b in cal[which]["reliability"] if b["count"] > 0] + [b for b in cal["after"]["reliability"] if b["count"] > 0]
            self.assertEqual(len(group), len(want))
            for g, w in zip(group, want):
                self.assertTrue(rc.close(float(g["data-value"]), w["accuracy"]), (g, w))
                self.assertEqual(int(g["data-count"]), w["count"])
        # the most confidently wrong examples, with a PNG thumbnail each
        wrong = [a for t, a, s in h.tags if t == "td" and "data-value" in a]
        self.assertTrue(wrong, "the fixture needs wrong predictions")
        self.assertAllClose([float(a["data-value"]) for a in wrong], [w["confidence"] for w in ev["most_confidently_wrong"][:12]])
        imgs = [a["src"] for t, a, s in h.tags if t == "img"]
        self.assertEqual(len(imgs), len(wrong))
        for src in imgs:
            self.assertTrue(src.startswith("data:image/png;base64,"))
            self.assertEqual(base64.b64decode(src.split(",", 1)[1])[:8], b"\x89PNG\r\n\x1a\n")

    def test_sweep(self):
        h = page(self.sweep)
        for s in ("points", "runs", "sweep-curves"):
            self.assertIn(s, h.sections)
        rows = list(csv.DictReader((self.sweep / "results.csv").read_text().splitlines()))
        points = [r for r in rows if r["row"] == "point"]
        bars = {a["data-label"]: float(a["data-value"]) for a in h.in_svg("sweep-points", "dot")}
        for p in points:
            if p["mean"]:
                self.assertTrue(rc.close(bars["p" + p["point"]], float(p["mean"])), (bars, p))
            else:
                self.assertNotIn("p" + p["point"], bars)
        for e in h.in_svg("sweep-points", "errorbar"):
            self.assertTrue(any(rc.close(float(e["data-lo"]), float(p["ci_low"])) for p in points if p["ci_low"]))
        base = [float(p["mean"]) for p in points if p["verdict"] == "baseline" and p["mean"]]
        ref = [float(a["data-value"]) for a in h.in_svg("sweep-points", "reference")]
        self.assertTrue(base, "the sweep fixture names a baseline point")
        self.assertEqual(len(ref), len(base))  # the dashed baseline line
        for r, b in zip(ref, base):
            self.assertTrue(rc.close(r, b))
        failed = [r for r in rows if r["row"] == "run" and r["status"] not in OK_STATUS]
        self.assertTrue(failed, "the sweep fixture needs a failed point")
        text = (self.sweep / "report.html").read_text()
        self.assertIn("<th>val.top1</th><th>test.top1</th></tr>", text)  # the runs table: metric columns only
        for r in failed:
            self.assertIn("point %s seed %s" % (r["point"], r["seed"]), text)
        # each finished run's val curve, overlaid
        series = h.series("sweep-curve-top1")
        for r in rows:
            if r["row"] == "run" and r["status"] in OK_STATUS:
                run = self.sweep / ("p%s-s%s" % (r["point"], r["seed"]))
                val = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
                val = [v["top1"] for v in val if v["split"] == "val"]
                self.assertAllClose(series["p%s s%s" % (r["point"], r["seed"])][1], val)

    def test_segment(self):
        h = page(self.seg)
        for s in ("overview", "scan", "clusters"):
            self.assertIn(s, h.sections)
        s = json.loads((self.seg / "summary.json").read_text())
        self.assertAllClose(h.values("segment-elbow", "point"), [r["inertia"] for r in s["scan"]])
        self.assertAllClose(h.values("segment-silhouette", "point"), [r["silhouette"] for r in s["scan"]])
        self.assertAllClose(h.values("segment-sizes", "bar"), [c["size"] for c in s["clusters"]])
        self.assertAllClose(h.values("segment-mean-num_comments", "bar"), [c["mean"]["num_comments"] for c in s["clusters"]])

    def test_forecast(self):
        h = page(self.fc)
        for s in ("overview", "curves", "forecast-errors", "anomaly", "forecast-series", "config"):
            self.assertIn(s, h.sections)
        fe = json.loads((self.fc / "forecast_eval.json").read_text())
        for hz in fe["horizon_labels"]:
            self.assertAllClose(h.values("forecast-mase-" + hz, "bar"), [fe["series"][k][hz]["mase"] for k in fe["series"]])
        rows = list(csv.DictReader((self.fc / "anomaly_scores.csv").read_text().splitlines()))
        s0 = [r for r in rows if r["series"] == rows[0]["series"]]
        ser = h.series("forecast-series-0")
        self.assertAllClose(ser["actual"][1], [float(r["value"]) for r in s0])
        fc = ser["forecast"][1]
        for g, r in zip(fc, s0):
            self.assertTrue(rc.close(g, float(r["forecast"])) if r["forecast"] else g != g)
        marks = [float(a["data-x"]) for a in h.in_svg("forecast-series-0", "mark")]
        self.assertEqual(marks, [float(i) for i, r in enumerate(s0) if r["flag"] == "1"])
        inside = [i for i, r in enumerate(s0) if r["in_window"] == "1"]
        bands = [a for a in h.in_svg("forecast-series-0", "band") if "data-x0" in a]  # not the legend's swatch
        self.assertTrue(inside and bands)
        self.assertEqual((float(bands[0]["data-x0"]), float(bands[-1]["data-x1"])), (inside[0], inside[-1]))
        # --kind forecast: only the forecast sections
        out = self.tmp / "fc_only.html"
        report(self.fc, "--kind", "forecast", "--output", out)
        self.assertEqual(rc.Parsed(out.read_text()).sections, ["forecast-errors", "anomaly", "forecast-series"])


class ReportMalformed(unittest.TestCase):
    """Partial and broken inputs: a report naming what is missing, or one line and exit status 2."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="smlab_report_bad_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def one_line_error(self, *args, usage=False):
        p = report(*args, check=False)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        if usage:  # a flag error: the message, then the verb's usage
            self.assertIn("usage: smlab report", p.stderr)
            return p.stderr.splitlines()[0]
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        self.assertNotIn("terminate", p.stderr)
        return p.stderr

    def test_errors(self):
        self.assertIn("does not exist", self.one_line_error(self.tmp / "nope"))
        (self.tmp / "empty").mkdir()
        self.assertIn("is not a run folder", self.one_line_error(self.tmp / "empty"))
        self.assertIn("--kind", self.one_line_error(self.tmp, "--kind", "bogus", usage=True))

    def test_partial_run(self):
        run = self.tmp / "r"
        run.mkdir()
        (run / "config.yaml").write_text(rc.BLOBS)
        report(run)
        text = (run / "report.html").read_text()
        for want in ("no metrics.jsonl", "summary.json is missing", "run `smlab eval RUN`"):
            self.assertIn(want, text)
        self.assertIn("evaluation", rc.Parsed(text).sections)

    def test_run_still_training(self):
        (self.tmp / "b.yaml").write_text(rc.BLOBS)
        run = self.tmp / "r"
        rc.smlab("train", self.tmp / "b.yaml", "--run-dir", run)
        (run / "summary.json").unlink()  # as while training
        lines = (run / "metrics.jsonl").read_text().splitlines()
        (run / "metrics.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # a line cut short
        (run / "eval_test_best.json").write_text("{not json")
        report(run)
        text = (run / "report.html").read_text()
        self.assertIn("still training", text)
        self.assertIn("1 line(s) are not JSON records", text)
        self.assertIn("eval_test_best.json is unreadable", text)
        h = rc.Parsed(text)
        self.assertEqual(len(h.series("curve-loss")["train"][1]), len([l for l in lines[:-1] if '"train"' in l]) + ('"train"' in lines[-1] and 0))

    def test_sweep_without_results(self):
        sw = self.tmp / "sw"
        (sw / "p0-s0").mkdir(parents=True)
        report(sw)
        self.assertIn("no results.csv", (sw / "report.html").read_text())

    def test_segment_broken_summary(self):
        seg = self.tmp / "seg"
        seg.mkdir()
        (seg / "segments.csv").write_text("line,cluster\n2,0\n")
        (seg / "summary.json").write_text("[1, 2")
        report(seg)
        self.assertIn("rerun `smlab segment", (seg / "report.html").read_text())


if __name__ == "__main__":
    rc.require_binary()
    unittest.main()
