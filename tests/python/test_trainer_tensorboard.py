#!/usr/bin/env python3
"""A real `smlab train` run's TensorBoard files, read with tensorboard's own EventAccumulator, hold the
same train/val/test values as the run's metrics.jsonl (the oracle is tensorboard's reader)."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testenv  # noqa: E402

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError as e:  # pragma: no cover
    print(f"skip: tensorboard not importable ({e})")
    sys.exit(77)

SMLAB = os.environ.get("SMLAB_BIN")


class TrainerTensorBoard(unittest.TestCase):
    def test_scalars_match_metrics_jsonl(self):
        with tempfile.TemporaryDirectory() as tmp:
            run, records = testenv.train_blobs(SMLAB, tmp)
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
