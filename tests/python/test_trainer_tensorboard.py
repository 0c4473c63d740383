#!/usr/bin/env python3
"""A real `smlab train` run's TensorBoard files, read with tensorboard's own EventAccumulator, hold the
same train/val/test values as the run's metrics.jsonl (the oracle is tensorboard's reader)."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError as e:  # pragma: no cover
    print(f"skip: tensorboard not importable ({e})")
    sys.exit(77)

SMLAB = os.environ.get("SMLAB_BIN")


class TrainerTensorBoard(unittest.TestCase):
    def test_scalars_match_metrics_jsonl(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = pathlib.Path(tmp) / "run"
            cfg = pathlib.Path(tmp) / "tb.yaml"
            cfg.write_text(
                "model: {name: mlp, hidden: [16]}\n"
                "data: {name: synthetic_blobs, features: 4, classes: 3, train_size: 320, val_size: 64, "
                "test_size: 64, batch_size: 32, workers: 0}\n"
                "train: {epochs: 2, log_every: 3, progress: none}\nexperiment: {device: cpu}\n")
            subprocess.run([SMLAB, "train", str(cfg), "--run-dir", str(run)], check=True, capture_output=True)
            records = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
            acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
            acc.Reload()
            tags = acc.Tags()["scalars"]
            for want in ("train/loss", "train/lr", "val/top1", "val/loss", "test/top1"):
                self.assertIn(want, tags)
            train = [r for r in records if r["split"] == "train"]
            tb_loss = acc.Scalars("train/loss")
            self.assertEqual([e.step for e in tb_loss], [r["step"] for r in train])
            for e, r in zip(tb_loss, train):
                self.assertAlmostEqual(e.value, r["loss"], places=5)  # simple_value is float32
            val = [r for r in records if r["split"] == "val"]
            tb_val = acc.Scalars("val/top1")
            self.assertEqual(len(tb_val), len(val))
            for e, r in zip(tb_val, val):
                self.assertEqual(e.step, r["step"])
                self.assertAlmostEqual(e.value, r["top1"], places=6)
            summary = json.loads((run / "summary.json").read_text())
            self.assertAlmostEqual(acc.Scalars("test/top1")[-1].value, summary["test"]["top1"], places=6)


if __name__ == "__main__":
    if not SMLAB:
        print("skip: SMLAB_BIN not set")
        sys.exit(77)
    unittest.main()
