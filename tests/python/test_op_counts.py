"""Ops per training step (issue 24): smlab dispatches no more ATen operators per step than its
Python PyTorch peer, for ResNet-20, TextCNN, BiLSTM and R3D-18 (width 16).

Both sides count the same way: PyTorch's profiler (Kineto, CPU activity), every event named
aten::*, nested ones included, forward, backward and the SGD step (smlab: `smlab bench ops`,
core/op_count.h; Python: bench/peers.py `count_ops`). On a GPU each such operator is a dispatch and
usually a kernel launch, so for small models the count is a proxy for launch-bound speed that can
be checked on a CPU. The peers are the models as a Python user writes them (bench/peers.py); their
parameter counts are checked equal to smlab's first, so both sides hold the same architecture.

The test compares counts, never times. When it fails it prints the operators whose per-step count
differs most, which is where to look. Exits 77 (skipped) without SMLAB_BIN.
"""
import json
import os
import subprocess
import sys
import unittest

BIN = os.environ.get("SMLAB_BIN", "")
SRC = os.environ.get("SMLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
if not BIN or not os.path.exists(BIN):
    print("skipping: SMLAB_BIN is not set")
    sys.exit(77)
sys.path.insert(0, os.path.join(SRC, "bench"))
import torch  # noqa: E402

import peers  # noqa: E402

torch.set_num_threads(1)


def smlab_ops(model, batch, overrides):
    out = subprocess.run([BIN, "bench", "ops", "--model", model, "--batch", str(batch), "--steps", "2", "--warmup", "1",
                          "--threads", "1", *overrides], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def biggest_differences(ours, theirs, n=8):
    names = set(ours) | set(theirs)
    diff = sorted(((ours.get(k, 0) - theirs.get(k, 0), k) for k in names), key=lambda t: -abs(t[0]))
    return ", ".join(f"{k} {d:+g}" for d, k in diff[:n] if d)


class OpCounts(unittest.TestCase):
    def check(self, name):
        model, batch, overrides, factory, inputs = peers.CASES[name]
        ours = smlab_ops(model, batch, overrides)
        net, step = peers.make_step(factory, inputs, batch)
        self.assertEqual(ours["parameters"], peers.param_count(net), f"{name}: the peer is another architecture")
        theirs, hist = peers.count_ops(step)
        print(f"{name}: smlab {ours['ops_per_step']:g} ops/step, python {theirs:g}; "
              f"differences: {biggest_differences(ours['ops'], hist)}", flush=True)
        self.assertGreater(ours["ops_per_step"], 0)
        self.assertLessEqual(ours["ops_per_step"], theirs,
                             f"{name}: smlab dispatches more ATen ops per step than Python "
                             f"({biggest_differences(ours['ops'], hist)})")

    def test_resnet20(self):
        self.check("resnet20")

    def test_text_cnn(self):
        self.check("text_cnn")

    def test_bilstm(self):
        self.check("bilstm")

    def test_r3d_18(self):
        self.check("r3d_18")


if __name__ == "__main__":
    unittest.main()
