#!/usr/bin/env python3
"""CPU training-step throughput: smlab (C++) vs Python PyTorch 2.11 eager, same model, batch and threads.

Each measurement is a fresh process on both sides. Both run the same loop on one in-memory batch: zero_grad, forward, cross-entropy, backward,
SGD(lr 0.1, momentum 0.9) step. Runs alternate (smlab, python, smlab, ...) and the median of each
side's steps/s is reported with the ratio smlab / python (target: >= 1.0). Each process also reports
the median time of a single step and its CPU seconds per step (all threads): on a shared machine
these are less disturbed by other processes than the loop's wall time, and are reported alongside.

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
    times = []
    cpu0 = time.process_time()
    t0 = ti = time.perf_counter()
    for _ in range(steps):
        step()
        now = time.perf_counter()
        times.append(now - ti)
        ti = now
    sec = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {"steps_per_s": steps / sec, "median_step_s": statistics.median(times), "cpu_s_per_step": cpu / steps,
            "parameters": sum(p.numel() for p in model.parameters())}


# The heap settings smlab's executable applies to itself (core/memory.cpp), as glibc tunables.
SMLAB_MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


def python_subprocess_steps_per_s(name, batch, steps, warmup, threads, tuned_malloc=False):
    """The peer in a fresh process, exactly like smlab's side (no warm allocator carried over)."""
    env = dict(os.environ)
    if tuned_malloc:
        env["GLIBC_TUNABLES"] = SMLAB_MALLOC_TUNABLES
    out = subprocess.run([sys.executable, __file__, "--peer", name, "--batch", str(batch), "--steps", str(steps),
                          "--warmup", str(warmup), "--threads", str(threads)],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def smlab_steps_per_s(binary, model, batch, steps, warmup, threads):
    out = subprocess.run([binary, "bench", "train-step", "--model", model, "--batch", str(batch), "--steps",
                          str(steps), "--warmup", str(warmup), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


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
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", default="resnet20,text_cnn")
    ap.add_argument("--out", default="")
    ap.add_argument("--peer-tuned-malloc", action="store_true",
                    help="also time the Python peer with smlab's heap settings (GLIBC_TUNABLES), alternating")
    ap.add_argument("--peer", default="", help=argparse.SUPPRESS)  # internal: run one Python measurement
    ap.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.peer:
        _, batch, factory, inputs = CASES[args.peer]
        print(json.dumps(python_steps_per_s(factory, inputs, args.batch or batch, args.steps, args.warmup)))
        return
    rows = []
    keys = ("steps_per_s", "median_step_s", "cpu_s_per_step")
    for name in args.cases.split(","):
        model, batch, factory, inputs = CASES[name]
        ours, theirs, tuned = [], [], []
        try:
            for _ in range(args.repeats):
                ours.append(smlab_steps_per_s(args.smlab, model, batch, args.steps, args.warmup, args.threads))
                theirs.append(python_subprocess_steps_per_s(name, batch, args.steps, args.warmup, args.threads))
                if args.peer_tuned_malloc:
                    tuned.append(python_subprocess_steps_per_s(name, batch, args.steps, args.warmup, args.threads, True))
        except subprocess.CalledProcessError as e:
            print(f"{name}: smlab failed: {e.stderr.strip().splitlines()[-1] if e.stderr else e}", file=sys.stderr)
            rows.append((name, batch, None, None, "smlab bench failed (model not registered?)", {}, None))
            continue
        n_ours, n_theirs = ours[0]["parameters"], theirs[0]["parameters"]
        note = "" if n_ours == n_theirs else f"parameter counts differ: smlab {n_ours}, python {n_theirs}"
        a = {k: statistics.median(r[k] for r in ours) for k in keys}
        b = {k: statistics.median(r[k] for r in theirs) for k in keys}
        runs = {"smlab": [round(r["steps_per_s"], 3) for r in ours], "python": [round(r["steps_per_s"], 3) for r in theirs]}
        c = None
        if tuned:
            c = {k: statistics.median(r[k] for r in tuned) for k in keys}
            runs["python with smlab's malloc settings"] = [round(r["steps_per_s"], 3) for r in tuned]
            print(f"{name}: python with smlab's malloc settings {c['steps_per_s']:.2f} steps/s (ratio "
                  f"{a['steps_per_s'] / c['steps_per_s']:.3f}), median step {c['median_step_s'] * 1e3:.1f} ms, "
                  f"CPU/step {c['cpu_s_per_step']:.3f} s", flush=True)
        rows.append((name, batch, a, b, note, runs, c))
        print(f"{name} batch {batch}: smlab {a['steps_per_s']:.2f} steps/s, python {b['steps_per_s']:.2f} steps/s, "
              f"ratio {a['steps_per_s'] / b['steps_per_s']:.3f}; median step {a['median_step_s'] * 1e3:.1f} vs "
              f"{b['median_step_s'] * 1e3:.1f} ms (ratio {b['median_step_s'] / a['median_step_s']:.3f}); CPU/step "
              f"{a['cpu_s_per_step']:.3f} vs {b['cpu_s_per_step']:.3f} s (ratio {b['cpu_s_per_step'] / a['cpu_s_per_step']:.3f}) "
              f"{note} runs {runs}", flush=True)
    if args.out:
        lines = [f"# CPU training-step throughput: smlab vs Python PyTorch {torch.__version__} eager", "",
                 f"- date: {datetime.date.today()}", f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs",
                 f"- threads: {args.threads} intra-op on both sides; {args.steps} timed steps after {args.warmup} "
                 f"warmup, median of {args.repeats} alternating runs, each a fresh process",
                 f"- command: `.venv/bin/python bench/train_step.py --threads {args.threads} --steps {args.steps} "
                 f"--warmup {args.warmup} --repeats {args.repeats}{' --peer-tuned-malloc' if args.peer_tuned_malloc else ''} "
                 f"--out {args.out}`", "",
                 "Ratios are smlab / python for throughput (python time / smlab time for the per-step columns); "
                 ">= 1.0 means smlab is no slower.", "",
                 "| model | batch | smlab steps/s | python steps/s | ratio (target >= 1.0) | median step smlab / python (ms) | ratio | CPU s/step smlab / python | ratio | note |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            name, batch, a, b, note = row[:5]
            if a is None:
                lines.append(f"| {name} | {batch} | - | - | - | - | - | - | - | {note} |")
                continue
            lines.append(
                f"| {name} | {batch} | {a['steps_per_s']:.2f} | {b['steps_per_s']:.2f} | "
                f"{a['steps_per_s'] / b['steps_per_s']:.3f} | {a['median_step_s'] * 1e3:.1f} / {b['median_step_s'] * 1e3:.1f} | "
                f"{b['median_step_s'] / a['median_step_s']:.3f} | {a['cpu_s_per_step']:.3f} / {b['cpu_s_per_step']:.3f} | "
                f"{b['cpu_s_per_step'] / a['cpu_s_per_step']:.3f} | {note} |")
        tuned_rows = [row for row in rows if row[2] is not None and row[6] is not None]
        if tuned_rows:
            lines += ["", f"The Python peer again with smlab's heap settings (`GLIBC_TUNABLES={SMLAB_MALLOC_TUNABLES}`), "
                      "in the same alternation:", "",
                      "| model | batch | smlab steps/s | python steps/s | ratio | median step ratio | CPU s/step ratio |",
                      "|---|---|---|---|---|---|---|"]
            for name, batch, a, b, note, runs, c in tuned_rows:
                lines.append(f"| {name} | {batch} | {a['steps_per_s']:.2f} | {c['steps_per_s']:.2f} | "
                             f"{a['steps_per_s'] / c['steps_per_s']:.3f} | {c['median_step_s'] / a['median_step_s']:.3f} | "
                             f"{c['cpu_s_per_step'] / a['cpu_s_per_step']:.3f} |")
        lines += ["", "Steps/s of every run, in order (the sides alternate):", ""]
        for row in rows:
            if row[2] is not None:
                lines.append(f"- {row[0]}: " + "; ".join(f"{k} {v}" for k, v in row[5].items()))
        with open(args.out + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(args.out + ".tmp", args.out)

if __name__ == "__main__":
    main()
