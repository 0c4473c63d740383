"""scripts/device_data.py (the GPU machine's CIFAR-10 decoder) gives the pixels and labels that
`smlab pack` gives from the same JPEGs.

The device build has no OpenCV image codecs, so there the JPEGs are decoded by torchvision and
packed through IDX files. Here both routes pack the first 40 train images of the shared tarball,
and the shards must hold the same labels and the same pixels (both decoders are libjpeg-turbo with
its default integer IDCT and fancy upsampling; at most 1 grey level apart is tolerated for a
different libjpeg-turbo build, and counted).

Needs SMLAB_DATA (the shared datasets) and SMLAB_BIN; exits 77 (skipped) without them.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

SRC = os.environ.get("SMLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("SMLAB_BIN", "")
TAR = os.path.join(os.environ.get("SMLAB_DATA", ""), "cifar10_jpg_yoongikim", "CIFAR-10-images_HEAD.tar.gz")
N = 40


def packed(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        m = json.load(f)
    images = np.concatenate([h5py.File(os.path.join(folder, s["file"]), "r")["images"][:] for s in m["shards"]])
    return images, np.array(m["labels"]), m


def main():
    if not BIN or not os.environ.get("SMLAB_DATA") or not os.path.exists(TAR):
        print("skipping: needs SMLAB_BIN and SMLAB_DATA with cifar10_jpg_yoongikim")
        return 77
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(SRC, "scripts", "device_data.py"), "--tar", TAR, "--out",
                        os.path.join(d, "idx"), "--limit", str(N)], check=True, capture_output=True)
        idx = os.path.join(d, "idx", "cifar10-train-images-idx3-ubyte")
        subprocess.run([BIN, "pack", idx, os.path.join(d, "p_idx"), "--kind", "idx"], check=True, capture_output=True)
        subprocess.run([BIN, "pack", TAR, os.path.join(d, "p_jpg"), "--split", "train", "--limit", str(N)], check=True,
                       capture_output=True)
        a, la, ma = packed(os.path.join(d, "p_idx"))
        b, lb, mb = packed(os.path.join(d, "p_jpg"))
    failures = []
    if a.shape != (N, 32, 32, 3) or b.shape != a.shape:
        failures.append(f"shapes {a.shape} (device_data) vs {b.shape} (smlab pack)")
    else:
        # smlab pack names classes; the IDX route numbers them in the same sorted order.
        names = [mb["classes"][i] for i in lb]
        if not np.array_equal(la, lb):
            failures.append(f"labels differ: {la[:10]} vs {lb[:10]} ({names[:10]})")
        diff = np.abs(a.astype(int) - b.astype(int))
        print(f"{N} images: max |diff| {diff.max()}, {np.count_nonzero(diff)} of {diff.size} values differ")
        if diff.max() > 1:
            failures.append(f"pixels differ by up to {diff.max()}")
        if np.count_nonzero(diff) > diff.size // 100:
            failures.append(f"{np.count_nonzero(diff)} of {diff.size} values differ (> 1%)")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
