#!/usr/bin/env python3
"""Turns the shared CIFAR-10 JPEG tarball into IDX files that `smlab pack --kind idx` packs.

For GPU machines whose smlab is built without OpenCV's image codecs (SMLAB_WITH_OPENCV_CODECS=OFF,
scripts/device_check.sh): the JPEGs are decoded here, by torchvision's libjpeg-turbo decoder, and
smlab packs the raw pixels. Python is only the decoder of a benchmark's input; the packing, the
shards and the loading are smlab's. tests/python/test_device_data.py checks that the pixels equal
those `smlab pack` decodes from the same JPEGs.

Writes into --out (classes numbered in sorted folder-name order, as `smlab pack` numbers them):
  cifar10-train-images-idx3-ubyte, cifar10-train-labels-idx1-ubyte   50,000 x 32 x 32 x 3
  cifar10-test-images-idx3-ubyte,  cifar10-test-labels-idx1-ubyte    10,000 x 32 x 32 x 3
  with --clips N: cifarclips-train-images-idx3-ubyte (5-D, packs as video) + labels: N clips of 16
      frames at 112x112, each a 112x112 window panning one pixel per frame, diagonally, over a train
      image upscaled to 128x128 (real pixels with motion, for the video-network benchmark)
  with --large S --large-count N:
  cifar{S}-train-images-idx3-ubyte, cifar{S}-train-labels-idx1-ubyte  the first N train images
      (archive order) resized to S x S (bilinear with antialias), for ImageNet-sized benchmarks

usage: scripts/device_data.py --tar CIFAR-10-images_HEAD.tar.gz --out DIR [--large 224 --large-count 10000]
                              [--clips 2000] [--limit N]
"""
import argparse
import os
import struct
import sys
import tarfile

import numpy as np
import torch
import torchvision.io as tvio
import torch.nn.functional as F


def write_idx(path, array):
    """IDX: magic 0x00 0x00 <type 0x08 = uint8> <ndim>, big-endian int32 dims, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(bytes([0, 0, 0x08, array.ndim]))
        f.write(struct.pack(">" + "i" * array.ndim, *array.shape))
        f.write(array.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def resized(images, size):
    """uint8 [N, H, W, 3] -> uint8 [N, size, size, 3], bilinear with antialias, rounded."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def read_split(tar_path, split, limit):
    """(images uint8 [N, 32, 32, 3], labels uint8 [N], classes) in archive order."""
    members, names = [], set()
    with tarfile.open(tar_path, "r:gz") as tar:
        for m in tar:
            parts = m.name.split("/")
            if m.isfile() and len(parts) >= 3 and parts[-3] == split and parts[-1].lower().endswith((".jpg", ".jpeg")):
                names.add(parts[-2])  # every class of the split, also past --limit: the same numbering
                if not limit or len(members) < limit:
                    members.append((parts[-2], tar.extractfile(m).read()))
    if not members:
        sys.exit(f"{tar_path}: no {split}/<class>/*.jpg entries")
    classes = sorted(names)
    index = {c: i for i, c in enumerate(classes)}
    images = np.empty((len(members), 32, 32, 3), np.uint8)
    labels = np.empty(len(members), np.uint8)
    for i, (c, data) in enumerate(members):
        chw = tvio.decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=tvio.ImageReadMode.RGB)
        if chw.shape[1:] != (32, 32):
            sys.exit(f"{tar_path}:{split}/{c} record {i}: expected 32x32, got {tuple(chw.shape[1:])}")
        images[i] = chw.permute(1, 2, 0).numpy()
        labels[i] = index[c]
    return images, labels, classes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tar", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--large", type=int, default=0, help="also write train images resized to S x S")
    ap.add_argument("--large-count", type=int, default=10000)
    ap.add_argument("--clips", type=int, default=0, help="also write N panning clips of 16 x 112 x 112")
    ap.add_argument("--limit", type=int, default=0, help="at most N images per split (tests)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for split in ("train", "test"):
        images, labels, classes = read_split(a.tar, split, a.limit)
        write_idx(os.path.join(a.out, f"cifar10-{split}-images-idx3-ubyte"), images)
        write_idx(os.path.join(a.out, f"cifar10-{split}-labels-idx1-ubyte"), labels)
        print(f"{split}: {len(labels)} images, classes {classes}")
        if split == "train" and a.large:
            n = min(a.large_count, len(labels))
            out = np.empty((n, a.large, a.large, 3), np.uint8)
            for s in range(0, n, 1000):
                out[s:s + 1000] = resized(images[s:min(s + 1000, n)], a.large)
            write_idx(os.path.join(a.out, f"cifar{a.large}-train-images-idx3-ubyte"), out)
            write_idx(os.path.join(a.out, f"cifar{a.large}-train-labels-idx1-ubyte"), labels[:n])
            print(f"train at {a.large}x{a.large}: {n} images")
        if split == "train" and a.clips:
            n = min(a.clips, len(labels))
            clips = np.empty((n, 16, 112, 112, 3), np.uint8)
            for s in range(0, n, 250):
                big = resized(images[s:min(s + 250, n)], 128)
                for t in range(16):
                    clips[s:s + len(big), t] = big[:, t:t + 112, t:t + 112]
            write_idx(os.path.join(a.out, "cifarclips-train-images-idx3-ubyte"), clips)
            write_idx(os.path.join(a.out, "cifarclips-train-labels-idx1-ubyte"), labels[:n])
            print(f"train clips: {n} x 16 x 112 x 112")


if __name__ == "__main__":
    main()
