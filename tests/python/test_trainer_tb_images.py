#!/usr/bin/env python3
"""TensorBoard during training, read back with the tensorboard package's EventAccumulator:
  * val/confusion_matrix is an image at every evaluation, and the last one's cells are the row
    fractions of the confusion matrix that `smlab eval --split val --checkpoint last` computes;
  * weights/<name> and grads/<name> histograms every train.tb_histogram_every steps, and each
    histogram counts every value of its parameter (the counts of one step sum to the parameter count
    in summary.json);
  * the scalars of metrics.jsonl (train/loss, val/top1, ...) are still there, and
    train/gpu_peak_mib only on CUDA: absent from a CPU run; on a GPU (skipped without one) present at every
    train record and at least the weights plus their gradients, which coexist at every optimizer step."""
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testenv  # noqa: E402

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"skip: tensorboard or Pillow not importable ({e})")
    sys.exit(77)

SMLAB = os.environ.get("SMLAB_BIN", "build/smlab")


class TrainerTensorBoardImages(unittest.TestCase):
    def test_images_histograms_scalars(self):
        with tempfile.TemporaryDirectory() as tmp:
            run, records = testenv.train_blobs(
                SMLAB, tmp, data="spread: 2.5",
                train="epochs: 3, log_every: 3, progress: none, tb_histogram_every: 5")
            summary = json.loads((run / "summary.json").read_text())
            acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
            acc.Reload()
            tags = acc.Tags()
            for want in ("train/loss", "val/top1"):
                self.assertIn(want, tags["scalars"])
            self.assertNotIn("train/gpu_peak_mib", tags["scalars"])
            self.assertNotIn("train/seconds", tags["scalars"])

            # one confusion image per evaluation, at the evaluation's step
            val_steps = [r["step"] for r in records if r["split"] == "val"]
            images = acc.Images("val/confusion_matrix")
            self.assertEqual([e.step for e in images], val_steps)
            subprocess.run([SMLAB, "eval", str(run), "--split", "val", "--checkpoint", "last"], check=True, capture_output=True)
            cm = json.loads((run / "eval_val_last.json").read_text())["confusion"]
            img = Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB")
            k = len(cm)
            self.assertEqual(img.size[0], img.size[1])
            cell = img.size[0] // k
            for i in range(k):
                for j in range(k):
                    r, _, _ = img.getpixel((j * cell + cell // 2, i * cell + cell // 2))
                    want = cm[i][j] / max(1, sum(cm[i]))
                    self.assertAlmostEqual((255 - r) / 255, want, delta=1.5 / 255, msg=(i, j))

            # histograms every 5 steps; each counts every value of its parameter
            steps = summary["steps"]
            weights = [t for t in tags["histograms"] if t.startswith("weights/")]
            grads = [t for t in tags["histograms"] if t.startswith("grads/")]
            self.assertTrue(weights and grads)
            self.assertEqual(sorted(t.split("/", 1)[1] for t in weights), sorted(t.split("/", 1)[1] for t in grads))
            for tag in weights + grads:
                self.assertEqual([h.step for h in acc.Histograms(tag)], list(range(5, steps + 1, 5)), tag)
            for step_index in range(len(acc.Histograms(weights[0]))):
                total = sum(acc.Histograms(t)[step_index].histogram_value.num for t in weights)
                self.assertEqual(total, summary["parameters"])
                total = sum(acc.Histograms(t)[step_index].histogram_value.num for t in grads)
                self.assertEqual(total, summary["parameters"])
            for tag in weights:
                h = acc.Histograms(tag)[0].histogram_value
                self.assertEqual(sum(h.bucket), h.num)

    def test_gpu_peak_memory_on_cuda(self):
        import torch
        if not torch.cuda.is_available():
            self.skipTest("no CUDA GPU: train/gpu_peak_mib is logged on CUDA only")
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([SMLAB, "info"], capture_output=True, text=True)
            if "cuda" not in r.stdout.lower():
                self.skipTest("this smlab build has no CUDA")
            run, records = testenv.train_blobs(SMLAB, tmp, model="{name: mlp, hidden: [1024, 1024]}", device="cuda",
                                               train="epochs: 2, log_every: 3, progress: none")
            summary = json.loads((run / "summary.json").read_text())
            acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
            acc.Reload()
            peaks = acc.Scalars("train/gpu_peak_mib")
            self.assertEqual([p.step for p in peaks], [r["step"] for r in records if r["split"] == "train"])
            floor = 2 * 4 * summary["parameters"] / 2**20  # fp32 weights and gradients, MiB
            ceiling = torch.cuda.get_device_properties(0).total_memory / 2**20
            for p in peaks:
                self.assertGreaterEqual(p.value, floor, p.step)
                self.assertLessEqual(p.value, ceiling, p.step)


if __name__ == "__main__":
    if not pathlib.Path(SMLAB).exists():
        print("skip: %s is not built" % SMLAB)
        sys.exit(77)
    unittest.main()
