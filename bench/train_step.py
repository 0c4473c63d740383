#!/usr/bin/env python3
"""CPU training-step throughput: smlab (C++) vs Python PyTorch 2.11 eager, same model, batch and threads.

Each measurement is a fresh process on both sides. Both run the same loop on one in-memory batch: zero_grad, forward, cross-entropy, backward,
SGD(lr 0.1, momentum 0.9) step. Runs alternate (smlab, python, smlab, ...) and the median of each
side's steps/s is reported with the ratio smlab / python (target: >= 1.0). Each process also reports
the median time of a single step and its CPU seconds per step (all threads): on a shared machine
these are less disturbed by other processes than the loop's wall time, and are reported alongside.

  .venv/bin/python bench/train_step.py --threads 2 --out bench/results/<date>-cpu-train-step.md
  .venv/bin/python bench/train_step.py --threads 1 --cases resnet20,text_cnn,bilstm,r3d_18 --compile --ops \\
      --peer-tuned-malloc --out bench/results/<date>-cpu-train-step-1thread.md

--compile adds a torch.compile peer (CPU inductor, default mode; its compile happens in the warmup
steps, which are untimed); --ops adds the ATen operators one step dispatches on each side, counted by
the profiler (core/op_count.h; bench/peers.py count_ops). The peers live in bench/peers.py.

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import CASES, count_ops, make_step, param_count  # noqa: E402  (bench/peers.py)


def python_steps_per_s(factory, inputs, batch, steps, warmup, compiled=False):
    if compiled:
        inner = factory
        factory = lambda: torch.compile(inner())  # noqa: E731  (CPU inductor, default mode)
    model, step = make_step(factory, inputs, batch)
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
            "parameters": param_count(model)}


# The heap settings smlab's executable applies to itself (core/memory.cpp), as glibc tunables.
SMLAB_MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


def python_subprocess_steps_per_s(name, batch, steps, warmup, threads, tuned_malloc=False, compiled=False):
    """The peer in a fresh process, exactly like smlab's side (no warm allocator carried over)."""
    env = dict(os.environ)
    if tuned_malloc:
        env["GLIBC_TUNABLES"] = SMLAB_MALLOC_TUNABLES
    cmd = [sys.executable, __file__, "--peer", name, "--batch", str(batch), "--steps", str(steps),
           "--warmup", str(warmup), "--threads", str(threads)] + (["--compiled"] if compiled else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def smlab_json(binary, bench, model, batch, overrides, steps, warmup, threads):
    out = subprocess.run([binary, "bench", bench, "--model", model, "--batch", str(batch), "--steps",
                          str(steps), "--warmup", str(warmup), "--threads", str(threads), *overrides],
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


KEYS = ("steps_per_s", "median_step_s", "cpu_s_per_step")
# Python sides beside smlab: (key, label, tuned malloc, torch.compile)
PEERS = (("python", "Python eager", False, False),
         ("tuned", "Python eager with smlab's malloc settings", True, False),
         ("compiled", "Python torch.compile (inductor, CPU)", False, True))


def measure_case(args, name):
    """Alternating fresh-process runs of smlab and each chosen Python side; medians and every run."""
    model, batch, overrides, factory, inputs = CASES[name]
    sides = ["python"] + (["tuned"] if args.peer_tuned_malloc else []) + (["compiled"] if args.compile else [])
    runs = {k: [] for k in ["smlab"] + sides}
    for _ in range(args.repeats):
        runs["smlab"].append(smlab_json(args.smlab, "train-step", model, batch, overrides, args.steps, args.warmup,
                                        args.threads))
        for key, _, tuned, compiled in PEERS:
            if key in sides:
                runs[key].append(python_subprocess_steps_per_s(name, batch, args.steps, args.warmup, args.threads,
                                                               tuned, compiled))
    med = {k: {m: statistics.median(r[m] for r in v) for m in KEYS} for k, v in runs.items()}
    n_ours, n_theirs = runs["smlab"][0]["parameters"], runs["python"][0]["parameters"]
    note = "" if n_ours == n_theirs else f"parameter counts differ: smlab {n_ours}, python {n_theirs}"
    row = {"name": name, "batch": batch, "med": med, "note": note,
           "runs": {k: [round(r["steps_per_s"], 3) for r in v] for k, v in runs.items()}}
    if args.ops:
        row["ops_smlab"] = smlab_json(args.smlab, "ops", model, batch, overrides, 2, 1, args.threads)["ops_per_step"]
        row["ops_python"] = count_ops(make_step(factory, inputs, batch)[1])[0]
    a = med["smlab"]
    for key in sides:
        b = med[key]
        print(f"{name} batch {batch} vs {key}: smlab {a['steps_per_s']:.2f} steps/s, {b['steps_per_s']:.2f}, ratio "
              f"{a['steps_per_s'] / b['steps_per_s']:.3f}; CPU/step ratio {b['cpu_s_per_step'] / a['cpu_s_per_step']:.3f}"
              f" {note}", flush=True)
    return row


def ratio_cells(a, b):
    return (f"{a['steps_per_s']:.2f} | {b['steps_per_s']:.2f} | {a['steps_per_s'] / b['steps_per_s']:.3f} | "
            f"{a['median_step_s'] * 1e3:.1f} / {b['median_step_s'] * 1e3:.1f} | {b['median_step_s'] / a['median_step_s']:.3f} | "
            f"{a['cpu_s_per_step']:.3f} / {b['cpu_s_per_step']:.3f} | {b['cpu_s_per_step'] / a['cpu_s_per_step']:.3f}")


def write_table(args, rows):
    flags = "".join(f" --{f.replace('_', '-')}" for f in ("peer_tuned_malloc", "compile", "ops") if getattr(args, f))
    lines = [f"# CPU training-step throughput: smlab vs Python PyTorch {torch.__version__}", "",
             f"- date: {datetime.date.today()}", f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs; "
             f"load average at the end {os.getloadavg()[0]:.2f}",
             f"- threads: {args.threads} intra-op on both sides; {args.steps} timed steps after {args.warmup} "
             f"warmup, median of {args.repeats} alternating runs, each a fresh process",
             f"- command: `.venv/bin/python bench/train_step.py --threads {args.threads} --steps {args.steps} "
             f"--warmup {args.warmup} --repeats {args.repeats} --cases {args.cases}{flags} --out {args.out}`", "",
             "Ratios are smlab / python for throughput (python time / smlab time for the per-step columns); "
             ">= 1.0 means smlab is no slower."]
    for key, label, _, _ in PEERS:
        have = [r for r in rows if key in r["med"]]
        if not have:
            continue
        lines += ["", f"## smlab against {label}", "",
                  "| model | batch | smlab steps/s | python steps/s | ratio | median step smlab / python (ms) | ratio | "
                  "CPU s/step smlab / python | ratio | note |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in have:
            lines.append(f"| {r['name']} | {r['batch']} | {ratio_cells(r['med']['smlab'], r['med'][key])} | {r['note']} |")
    if args.ops:
        lines += ["", "## ATen operators per training step (profiler events, nested included; smlab <= python is the goal)",
                  "", "| model | smlab | python eager | smlab / python |", "|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['name']} | {r['ops_smlab']:g} | {r['ops_python']:g} | {r['ops_smlab'] / r['ops_python']:.3f} |")
    lines += ["", "Steps/s of every run, in order (the sides alternate):", ""]
    for r in rows:
        lines.append(f"- {r['name']}: " + "; ".join(f"{k} {v}" for k, v in r["runs"].items()))
    with open(args.out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(args.out + ".tmp", args.out)


def ops_only(args):
    """ATen operators per training step on both sides, on args.device; a markdown table on stdout."""
    print(f"| model | batch | device | smlab ops/step | python ops/step | smlab / python |\n|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        model, batch, overrides, factory, inputs = CASES[name]
        ours = smlab_json(args.smlab, "ops", model, batch, overrides + ["--device", args.device], 2, 1, args.threads)
        theirs = count_ops(make_step(factory, inputs, batch, args.device)[1])[0]
        print(f"| {name} | {batch} | {args.device} | {ours['ops_per_step']:g} | {theirs:g} | "
              f"{ours['ops_per_step'] / theirs:.3f} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smlab", default=os.environ.get("SMLAB_BIN", "build/smlab"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", default="resnet20,text_cnn", help=f"comma-separated, of: {', '.join(CASES)}")
    ap.add_argument("--out", default="")
    ap.add_argument("--peer-tuned-malloc", action="store_true",
                    help="also time the Python peer with smlab's heap settings (GLIBC_TUNABLES), alternating")
    ap.add_argument("--compile", action="store_true",
                    help="also time the Python peer under torch.compile (CPU inductor; warmup includes the compile)")
    ap.add_argument("--ops", action="store_true", help="also count ATen operators per step on both sides")
    ap.add_argument("--ops-only", action="store_true",
                    help="only count operators per step, on --device (no timing): the GPU check runs it on cuda")
    ap.add_argument("--device", default="cpu", help="with --ops-only: cpu or cuda")
    ap.add_argument("--peer", default="", help=argparse.SUPPRESS)  # internal: run one Python measurement
    ap.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.peer:
        _, batch, _, factory, inputs = CASES[args.peer]
        print(json.dumps(python_steps_per_s(factory, inputs, args.batch or batch, args.steps, args.warmup,
                                            args.compiled)))
        return
    if args.ops_only:
        return ops_only(args)
    rows = []
    for name in args.cases.split(","):
        try:
            rows.append(measure_case(args, name))
        except subprocess.CalledProcessError as e:
            print(f"{name}: failed: {e.stderr.strip().splitlines()[-1] if e.stderr else e}", file=sys.stderr)
    if args.out:
        write_table(args, rows)


if __name__ == "__main__":
    main()
