#!/usr/bin/env python3
"""End-to-end training throughput: `smlab train` against PyTorch 2.11 (eager and torch.compile),
same model, batch, precision, memory format and data, in one run on one machine.

Workloads (issue 11):
  resnet50  ResNet-50, 224x224, batch 256: CIFAR-10 train images upscaled to 224 (device_data.py
            --large 224), packed by smlab (hdf5_images, uint8 NHWC in host memory)
  resnet20  CIFAR ResNet-20, 32x32, batch 512: the CIFAR-10 train split, packed by smlab
  r2plus1d_18  R(2+1)D-18, 16 x 112 x 112 clips, batch 32: clips panning over CIFAR-10 train images
            (device_data.py --clips), packed by smlab as video (hdf5_clips: smlab's loader threads
            flip the clips and scale them to [0, 1]; the peer does the same on the GPU batch)

smlab: `smlab train` on a generated config: hdf5_images (dtype uint8_nhwc) -> smlab's loader (worker
threads, pinned side-stream copies) -> the fused CUDA augmentation random_resized_crop_flip (crop back
to the input size, flip, ImageNet normalisation) -> bf16 autocast, channels_last, SGD(momentum 0.9,
nesterov, wd 5e-5). Steady-state rate by differencing two runs that differ only in train.max_steps:
images/s = (N2 - N1) * batch / (T2 - T1), so start-up (process, shard loading, cuDNN autotuning) and
the final evaluation cancel; the per-epoch checkpoint stays in, as in any real run.

PyTorch peer: the same shards read with h5py into a pinned uint8 NHWC tensor; per step a random batch
is copied to the GPU (non_blocking), permuted to NCHW, augmented with torchvision.transforms.v2
RandomResizedCrop + RandomHorizontalFlip on the GPU batch, normalised, channels_last, bf16 autocast,
the same SGD; timed with torch.cuda.synchronize() around N steps after W warm-up steps.
torchvision's resnet50 is the peer of smlab's resnet50 (same architecture, parity-tested); smlab's
resnet20 is the He et al. CIFAR ResNet, the peer is the same network in PyTorch (bench/train_step.py).

Also reported: training FLOPs per image (torch.utils.flop_counter, forward + backward), the bf16
matmul rate measured on this GPU (8192^3, CUDA events), the fraction of it reached, and the GPU
utilisation sampled by nvidia-smi during smlab's longer run.

usage: bench/train_e2e.py --build BUILD --data PACKED [--quick] [--models resnet50,resnet20,r2plus1d_18]
                          [--out FILE.md]
  PACKED holds cifar10/train, cifar224/train and cifarclips/train (scripts/device_check.sh makes them).
  --device cpu runs the same comparison on the CPU (small step counts; no bf16 peak, no utilisation).
"""
import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import CifarResNet  # noqa: E402  (the CIFAR ResNet peer the train-step benchmark uses)

WORKLOADS = {
    # name: (smlab model, packed folder, batch, image size)
    "resnet50": ("resnet50", "cifar224/train", 256, 224),
    "resnet20": ("resnet20", "cifar10/train", 512, 32),
    "r2plus1d_18": ("r2plus1d_18", "cifarclips/train", 32, 112),
}
VIDEO = {"r2plus1d_18"}
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


# ----------------------------------------------------------------------------------------------- smlab

def smlab_config(model, train, batch, device, steps, workers):
    if model in VIDEO:
        data = (f"{{name: hdf5_clips, train: {train}, val_fraction: 0.05, frames: 16, size: 112, resize: 0, "
                f"flip: true, batch_size: {batch}, eval_batch_size: {batch}, workers: {workers}}}")
        augment = "{train: [], eval: []}"
    else:
        data = (f"{{name: hdf5_images, train: {train}, val_fraction: 0.05, dtype: uint8_nhwc, batch_size: {batch},\n"
                f"        eval_batch_size: {batch}, workers: {workers}}}")
        augment = "{train: [random_resized_crop_flip], eval: [resize_center_crop]}"
    return f"""version: 1
experiment: {{name: e2e_{model}, seed: 0, device: {device}}}
model: {{name: {model}}}
data: {data}
optim: {{name: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5.0e-5}}
sched: {{name: constant}}
loss: {{name: cross_entropy}}
augment: {augment}
train: {{epochs: 1000, max_steps: {steps}, eval_every: 0, amp: {'bf16' if device == 'cuda' else 'none'},
        channels_last: true, tensorboard: false, progress: plain, log_every: 1000}}
"""


class GpuSampler:
    """nvidia-smi utilisation samples every 100 ms while running."""

    def __init__(self):
        self.samples, self._stop, self._proc = [], threading.Event(), None

    def __enter__(self):
        try:
            self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                           "-lms", "100"], stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read, daemon=True).start()
        except OSError:
            self._proc = None
        return self

    def _read(self):
        for line in self._proc.stdout:
            try:
                self.samples.append((time.perf_counter(), float(line.strip())))
            except ValueError:
                pass

    def __exit__(self, *exc):
        if self._proc:
            self._proc.terminate()
            self._proc.wait()


def run_smlab(build, cfg_text, work, tag, sampler=None):
    cfg = os.path.join(work, f"{tag}.yaml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    run_dir = os.path.join(work, tag)
    t0 = time.perf_counter()
    p = subprocess.run([os.path.join(build, "smlab"), "train", cfg, "--run-dir", run_dir], capture_output=True,
                       text=True)
    t1 = time.perf_counter()
    if p.returncode != 0:
        sys.exit(f"smlab train failed ({tag}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    return t0, t1, summary


def smlab_rate(a, model, train, batch, work):
    """Steady-state images/s from two runs that differ only in max_steps, plus GPU utilisation."""
    n1, n2 = a.warmup, a.warmup + a.steps
    cfg = lambda n: smlab_config(model, train, batch, a.device, n, a.workers)
    run_smlab(a.build, cfg(n1), work, f"{model}_{n1}_cold")  # warms the page cache and the GPU
    t0s, t1s, _ = run_smlab(a.build, cfg(n1), work, f"{model}_{n1}")
    util = None
    with GpuSampler() if a.device == "cuda" else _Null() as g:
        t0, t1, summary = run_smlab(a.build, cfg(n2), work, f"{model}_{n2}")
    if g.samples:
        # the middle 60% of the longer run: past start-up and cuDNN autotuning, before the final evaluation
        lo, hi = t0 + 0.2 * (t1 - t0), t0 + 0.8 * (t1 - t0)
        mid = [u for t, u in g.samples if lo <= t <= hi]
        util = statistics.mean(mid) if mid else None
    rate = (n2 - n1) * batch / ((t1 - t0) - (t1s - t0s))
    return rate, util, summary


class _Null:
    samples = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


# --------------------------------------------------------------------------------------------- PyTorch

@functools.lru_cache(maxsize=1)  # the eager and the compiled peer read the same shards once
def load_packed(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        m = json.load(f)
    images = np.concatenate([h5py.File(os.path.join(folder, s["file"]), "r")["images"][:] for s in m["shards"]])
    return torch.from_numpy(images), torch.tensor(m["labels"]), len(m["classes"])


def torch_model(name, classes):
    if name == "r2plus1d_18":
        import torchvision
        return torchvision.models.video.r2plus1d_18(num_classes=classes)
    if name == "resnet50":
        import torchvision
        return torchvision.models.resnet50(num_classes=classes)
    return CifarResNet(20, classes)


def torch_rate(a, name, folder, batch, size, compile_model):
    from torchvision.transforms import v2
    dev = torch.device(a.device)
    images, labels, classes = load_packed(folder)
    if dev.type == "cuda":
        images, labels = images.pin_memory(), labels.pin_memory()
    video = name in VIDEO
    fmt = torch.channels_last_3d if video else torch.channels_last
    model = torch_model(name, classes).to(dev).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-5)
    aug = v2.Compose([v2.RandomResizedCrop(size, antialias=False), v2.RandomHorizontalFlip()])
    mean = torch.tensor(MEAN, device=dev).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=dev).view(1, 3, 1, 1) * 255
    step_model = torch.compile(model) if compile_model else model
    amp = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")
    loss_fn = nn.CrossEntropyLoss()

    def step():
        idx = torch.randint(0, images.shape[0], (batch,))
        y = labels[idx].to(dev, non_blocking=True)
        if video:  # [B, T, H, W, C] uint8 -> [B, C, T, H, W] in [0, 1], each clip flipped with p = 1/2
            x = images[idx].to(dev, non_blocking=True).permute(0, 4, 1, 2, 3).float().div_(255)
            flip = torch.rand(batch, device=dev) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1, 1), x.flip(-1), x).contiguous(memory_format=fmt)
        else:
            x = images[idx].to(dev, non_blocking=True).permute(0, 3, 1, 2)
            x = ((aug(x).float() - mean) / std).contiguous(memory_format=fmt)
        with torch.autocast(**amp):
            loss = loss_fn(step_model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    return a.steps * batch / (time.perf_counter() - t0)


def train_flops_per_image(name, size, device):
    from torch.utils.flop_counter import FlopCounterMode
    model = torch_model(name, 10).to(device)
    x = torch.randn(8, 3, 16, size, size, device=device) if name in VIDEO else torch.randn(8, 3, size, size, device=device)
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(x), torch.zeros(8, dtype=torch.long, device=device)).backward()
    return fc.get_total_flops() / 8


def bf16_matmul_peak():
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(10):
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * n ** 3 / statistics.median(times)


# ------------------------------------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", required=True, help="folder holding cifar10/train and cifar224/train (packed)")
    ap.add_argument("--models", default="resnet50,resnet20,r2plus1d_18")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="fewer steps, no torch.compile")
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default 200, quick 60, cpu 6)")
    ap.add_argument("--warmup", type=int, default=0, help="warm-up steps (default 30, quick 15, cpu 2)")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 2))
    ap.add_argument("--batch", type=int, default=0, help="override every workload's batch (CPU runs)")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    cpu = a.device == "cpu"
    a.steps = a.steps or (6 if cpu else 60 if a.quick else 200)
    a.warmup = a.warmup or (2 if cpu else 15 if a.quick else 30)
    torch.backends.cudnn.benchmark = True

    peak = bf16_matmul_peak() if not cpu else None
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in a.models.split(","):
            model, sub, batch, size = WORKLOADS[name]
            batch = a.batch or batch
            folder = os.path.join(a.data, sub)
            print(f"{name}: batch {batch}, {size}x{size}, {a.warmup} + {a.steps} steps", flush=True)
            s_rate, util, summary = smlab_rate(a, model, folder, batch, work)
            print(f"  smlab            {s_rate:9.1f} images/s (GPU utilisation {util})", flush=True)
            e_rate = torch_rate(a, name, folder, batch, size, False)
            print(f"  PyTorch eager    {e_rate:9.1f} images/s", flush=True)
            c_rate = None
            if not a.quick and not cpu:
                c_rate = torch_rate(a, name, folder, batch, size, True)
                print(f"  torch.compile    {c_rate:9.1f} images/s", flush=True)
            flops = train_flops_per_image(name, size, a.device)
            rows.append((name, batch, size, s_rate, e_rate, c_rate, util, flops))

    lines = [f"## End-to-end training throughput (bench/train_e2e.py{' --quick' if a.quick else ''})", "",
             f"- device: {torch.cuda.get_device_name(0) if not cpu else platform.processor() or platform.machine()}; "
             f"torch {torch.__version__}; {a.warmup} warm-up + {a.steps} timed steps; loader workers {a.workers}"]
    if peak:
        lines.append(f"- bf16 matmul rate measured here (8192^3, median of 10): {peak / 1e12:.0f} TFLOP/s")
    lines += ["", "| model | batch | size | smlab samples/s | eager samples/s | compile samples/s | smlab/eager | smlab/compile "
                  "| GPU util % | train GFLOP/sample | % of bf16 peak |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, batch, size, s, e, c, util, flops in rows:
        frac = f"{100 * s * flops / peak:.1f}" if peak else "-"
        lines.append(f"| {name} | {batch} | {size} | {s:.1f} | {e:.1f} | {c:.1f} | {s / e:.3f} | {s / c:.3f} | "
                     .replace("| None |", "| - |") if c else
                     f"| {name} | {batch} | {size} | {s:.1f} | {e:.1f} | - | {s / e:.3f} | - | ")
        lines[-1] += f"{util:.1f} | " if util is not None else "- | "
        lines[-1] += f"{flops / 1e9:.2f} | {frac} |"
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            f.write(text)
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
