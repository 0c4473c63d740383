"""What the sweep oracle tests share (test_sweep_search_oracle.py, test_sweep_stats_oracle.py): the
skip rules (exit 77 without SMLAB_BIN or scipy), a tiny base config, and a TestCase base class that
writes it to a fresh folder per test."""
import os
import shutil
import sys
import tempfile
import unittest

BIN = os.environ.get("SMLAB_BIN", "")
if not BIN or not os.path.exists(BIN):
    print("skipping: SMLAB_BIN is not set")
    sys.exit(77)
try:
    import numpy  # noqa: F401
    import scipy.stats  # noqa: F401
except ImportError:
    print("skipping: scipy is not installed (scripts/install_deps.sh installs it)")
    sys.exit(77)

BASE = ("model: {name: mlp, hidden: [8]}\n"
        "data: {name: synthetic_blobs, features: 4, classes: 3, train_size: 60, val_size: 30, test_size: 30, "
        "batch_size: 30, workers: 0}\n"
        "train: {epochs: 1}\nexperiment: {device: cpu}\n")


class SweepFolderCase(unittest.TestCase):
    """Each test gets self.dir holding base.yaml (BASE); it is removed afterwards."""
    prefix = "smlab_sweep_"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.prefix)
        with open(os.path.join(self.dir, "base.yaml"), "w") as f:
            f.write(BASE)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)
