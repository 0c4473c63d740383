#!/usr/bin/env python3
"""CPU training-step throughput: smlab (C++) vs Python PyTorch 2.11 eager, same model, batch and threads.

Each measurement is a fresh process on both sides. Both run the same loop on one in-memory batch: zero_grad, forward, cross-entropy, backward,
SGD(lr 0.1, momentum 0.9) step. Runs alternate (smlab, python, smlab, ...) and the median of each
side's steps/s is reported with the ratio smlab / python (target: >= 1.0).

  .venv/bin/python bench/train_step.py --threads 2 --out bench/results/<date>-cpu-train-step.md

The parameter counts of the two implementations are checked to be equal before timing.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- peers: the same architectures as smlab's registered models ---------------------------------
class BasicBlockA(nn.Module):
    """CIFAR ResNet block with option-A shortcut (He et al. 2016): stride-2 subsampling + zero channels."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride != 1 or self.pad:
            sc = x[:, :, :: self.stride, :: self.stride]
            sc = F.pad(sc, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + sc)


class CifarResNet(nn.Module):
    def __init__(self, depth=20, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(BasicBlockA(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(x.mean((2, 3)))


class TextCNN(nn.Module):
    def __init__(self, vocab=8000, dim=128, kernels=(3, 4, 5), filters=100, dropout=0.5, classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(dim, filters, k) for k in kernels])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(filters * len(kernels), classes)

    def forward(self, tokens):
        e = self.embedding(tokens).transpose(1, 2)
        pooled = [F.relu(c(e)).amax(2) for c in self.convs]
        return self.fc(self.dropout(torch.cat(pooled, 1)))


CASES = {
    # name: (smlab model, batch, python factory, input factory)
    "resnet20": ("resnet20", 128, lambda: CifarResNet(20, 10),
                 lambda b: (torch.randn(b, 3, 32, 32), torch.randint(0, 10, (b,)))),
    "text_cnn": ("text_cnn", 64, lambda: TextCNN(),
                 lambda b: (torch.randint(1, 8000, (b, 64)), torch.randint(0, 3, (b,)))),
}


def python_steps_per_s(factory, inputs, batch, steps, warmup):
    torch.manual_seed(0)
    model = factory()
    x, y = inputs(batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t0), sum(p.numel() for p in model.parameters())


def python_subprocess_steps_per_s(name, batch, steps, warmup, threads):
    """The peer in a fresh process, exactly like smlab's side (no warm allocator carried over)."""
    out = subprocess.run([sys.executable, __file__, "--peer", name, "--batch", str(batch), "--steps", str(steps),
                          "--warmup", str(warmup), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    return j["steps_per_s"], j["parameters"]


def smlab_steps_per_s(binary, model, batch, steps, warmup, threads):
    out = subprocess.run([binary, "bench", "train-step", "--model", model, "--batch", str(batch), "--steps",
                          str(steps), "--warmup", str(warmup), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    return j["steps_per_s"], j["parameters"]


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smlab", default=os.environ.get("SMLAB_BIN", "build/smlab"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", default="resnet20,text_cnn")
    ap.add_argument("--out", default="")
    ap.add_argument("--peer", default="", help=argparse.SUPPRESS)  # internal: run one Python measurement
    ap.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.peer:
        _, batch, factory, inputs = CASES[args.peer]
        sps, n = python_steps_per_s(factory, inputs, args.batch or batch, args.steps, args.warmup)
        print(json.dumps({"steps_per_s": sps, "parameters": n}))
        return
    rows = []
    for name in args.cases.split(","):
        model, batch, factory, inputs = CASES[name]
        ours, theirs = [], []
        try:
            for _ in range(args.repeats):
                s, n_ours = smlab_steps_per_s(args.smlab, model, batch, args.steps, args.warmup, args.threads)
                ours.append(s)
                p, n_theirs = python_subprocess_steps_per_s(name, batch, args.steps, args.warmup, args.threads)
                theirs.append(p)
        except subprocess.CalledProcessError as e:
            print(f"{name}: smlab failed: {e.stderr.strip().splitlines()[-1] if e.stderr else e}", file=sys.stderr)
            rows.append((name, batch, None, None, None, "smlab bench failed (model not registered?)"))
            continue
        note = "" if n_ours == n_theirs else f"parameter counts differ: smlab {n_ours}, python {n_theirs}"
        a, b = statistics.median(ours), statistics.median(theirs)
        rows.append((name, batch, a, b, a / b, note))
        print(f"{name} batch {batch}: smlab {a:.2f} steps/s, python {b:.2f} steps/s, ratio {a / b:.3f} {note}")
    if args.out:
        lines = [f"# CPU training-step throughput: smlab vs Python PyTorch {torch.__version__} eager", "",
                 f"- date: {datetime.date.today()}", f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs",
                 f"- threads: {args.threads} intra-op on both sides; {args.steps} timed steps after {args.warmup} "
                 f"warmup, median of {args.repeats} alternating runs",
                 f"- command: `.venv/bin/python bench/train_step.py --threads {args.threads} --out {args.out}`", "",
                 "| model | batch | smlab steps/s | python steps/s | ratio (target >= 1.0) | note |",
                 "|---|---|---|---|---|---|"]
        for name, batch, a, b, r, note in rows:
            fmt = lambda v: "-" if v is None else f"{v:.2f}"
            lines.append(f"| {name} | {batch} | {fmt(a)} | {fmt(b)} | {'-' if r is None else f'{r:.3f}'} | {note} |")
        with open(args.out + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
