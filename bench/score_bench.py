#!/usr/bin/env python3
"""Batch-scoring throughput: `smlab score` against Python PyTorch 2.11 running the same
TorchScript artifact with a plain-Python batching loop (sentencepiece tokenisation, padding,
forward, softmax, top-k, CSV rows), in the same run, on the same input and thread count.

Both sides run in two modes: padded (every batch padded to max_len) and bucketed (smlab's
default for artifacts whose outputs do not depend on the padded length: the records of each
8192-record chunk sorted by token length, each batch padded only to its longest member, rows
written in input order). The Python peer's bucketed mode does the same sort-by-length batching in
plain Python, so that the bucketed ratio compares like with like. The four variants run
interleaved (one of each per round); the load average is recorded around every run.

Text (CPU): SemEval-2017 4A test tweets (12,284, replicated --repeat times so that a run lasts a
few seconds), for each sentiment model given. The artifact comes from a short smlab run (weights
do not change throughput) exported with `smlab export`; both sides time the whole job from
process start: loading the artifact, reading, tokenising, scoring and writing the output.

Formats (issue 18, --formats torchscript,pt2,onnx): smlab also scores the AOTInductor package
(`smlab export --format all`), and the Python peers are torch.jit.load (TorchScript),
torch._inductor.aoti_load_package (.pt2) and onnxruntime (ONNX), each with the same loop and the same
batching (a fixed-length package is padded to max_len on both sides, as smlab score pads it). A
second table lists every variant's rows/s and smlab's best format against the best Python peer.
`--formats ...,compile` adds a torch.compile peer (issue 24): the TorchScript artifact converted to an
ExportedProgram as `smlab export` does (tools/export_pt2.py), then torch.compile(dynamic=True) on CPU
inductor, its compile time inside the timed job (what a user pays); it pads to max_len where a dynamic
length does not reproduce the artifact's outputs, as the .pt2 package does.

usage: bench/score_bench.py [--models text_cnn,bilstm] [--threads 2] [--repeat 4] [--runs 3] [--out FILE.md]
                           [--modes padded,bucketed] [--formats torchscript,pt2,onnx,compile]
Needs build/smlab and the shared datasets (SMLAB_DATA, default ../shared/datasets).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMLAB = os.environ.get("SMLAB_BIN", os.path.join(ROOT, "build", "smlab"))
DATA = os.environ.get("SMLAB_DATA", os.path.join(ROOT, "..", "shared", "datasets"))
TEST = os.path.join(DATA, "semeval2017_task4a", "test2017", "SemEval2017-task4-test.subtask-A.english.txt")

PEER = r'''
import csv, json, sys, time
t0 = time.perf_counter()
import torch, sentencepiece as spm
artifact, tok, inp, out, threads, batch, bucket = sys.argv[1:8]
loader = sys.argv[8] if len(sys.argv) > 8 else "jit"
bucket = bucket == "1"
torch.set_num_threads(int(threads))
min_width = 1
if loader == "jit":
    extra = {"smlab.json": ""}
    m = torch.jit.load(artifact, _extra_files=extra)
    meta = json.loads(extra["smlab.json"])
elif loader == "compile":  # torch.compile (CPU inductor) of the artifact's program, what a Python user turns on
    extra = {"smlab.json": ""}
    ts = torch.jit.load(artifact, _extra_files=extra).eval()
    meta = json.loads(extra["smlab.json"])
    sys.path.insert(0, TOOLS)
    import export_pt2  # the exporter's TorchScript -> ExportedProgram step (dynamic batch, and length where it holds)
    with torch.no_grad():
        for fixed in (False, True):  # as the exporter: a dynamic length must give the artifact's outputs
            ep, _, length = export_pt2.export_program(torch, ts, meta["input"], "forward", torch.device("cpu"), fixed)
            m = torch.compile(ep.module(), dynamic=True)
            if export_pt2.shorter_length_ok(torch, ts, meta["input"], "forward", length, m):
                break
    if not length["variable_length"]:
        bucket = False
    min_width = max(1, length["min_length"])
else:  # the .pt2 / .onnx beside the artifact, with the same smlab.json in its metadata
    if loader == "aoti":
        pk = torch._inductor.aoti_load_package(artifact[:-3] + ".pt2")
        md = pk.get_metadata()
        m = lambda x: pk(x)[0]
    else:
        import onnx, onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        sess = ort.InferenceSession(artifact[:-3] + ".onnx", so, providers=["CPUExecutionProvider"])
        md = sess.get_modelmeta().custom_metadata_map
        m = lambda x: torch.from_numpy(sess.run(["smlab_output"], {"x": x.numpy()})[0])
    meta, package = json.loads(md["smlab.json"]), json.loads(md["smlab.package"])
    if not package.get("variable_length", True):
        bucket = False  # a fixed-length package: every batch padded to max_len, as smlab score does
    min_width = max(1, package.get("min_length", 1))
# format 2 (typed ArtifactSpec, inference/artifact.h); format 1 had these flat
if meta.get("format", 1) >= 2:
    max_len, classes = meta["input"]["tokens"]["max_len"], meta["output"]["classes"]
else:
    max_len, classes = meta["input"]["max_len"], meta["classes"]
sp = spm.SentencePieceProcessor(model_file=tok)
batch = int(batch)
CHUNK = 8192
rows = 0
with open(inp, encoding="utf-8") as f, open(out, "w", newline="") as o, torch.no_grad():
    w = csv.writer(o)
    w.writerow(["id", "label", "confidence", "top_k"] + ["p_" + c for c in classes])
    def scores(enc):
        # enc: token id lists of one batch -> probabilities [n, C]
        width = max(min_width, max(min(len(e), max_len) for e in enc)) if bucket else max_len
        x = torch.zeros(len(enc), width, dtype=torch.long)
        for i, e in enumerate(enc):
            e = e[:max_len]
            x[i, :len(e)] = torch.tensor(e, dtype=torch.long)
        return torch.softmax(m(x).float(), 1)
    def flush(ids, texts):
        enc = sp.encode(texts)
        if bucket:  # sort by length, score in batches, put the rows back in input order
            order = sorted(range(len(enc)), key=lambda i: min(len(enc[i]), max_len))
            p = torch.empty(len(enc), len(classes))
            for s in range(0, len(order), batch):
                idx = order[s:s + batch]
                p[torch.tensor(idx)] = scores([enc[i] for i in idx])
        else:
            p = torch.cat([scores(enc[s:s + batch]) for s in range(0, len(enc), batch)])
        tp, ti = p.topk(min(5, len(classes)), 1)
        for i in range(len(ids)):
            top = ";".join(f"{classes[j]}:{v:.6g}" for v, j in zip(tp[i].tolist(), ti[i].tolist()))
            w.writerow([ids[i], classes[ti[i, 0]], f"{tp[i, 0].item():.6g}", top] + [f"{v:.6g}" for v in p[i].tolist()])
    ids, texts = [], []
    group = CHUNK if bucket else batch
    for line in f:
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3 or not parts[2].strip():
            continue
        ids.append(parts[0]); texts.append(parts[2])
        if len(ids) == group:
            flush(ids, texts); rows += len(ids); ids, texts = [], []
    if ids:
        flush(ids, texts); rows += len(ids)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0}))
'''


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r


def make_artifact(work, model, formats):
    cfg = os.path.join(work, f"{model}.yaml")
    with open(cfg, "w") as f:
        f.write(f"""version: 1
experiment: {{seed: 0, device: cpu}}
model: {{name: {model}}}
data: {{name: text_tsv, train: "{TEST}", tokenizer: "{work}/tok.model", max_len: 64, unescape: true, batch_size: 64}}
optim: {{name: adamw, lr: 1.0e-3}}
train: {{epochs: 1, max_steps: 5, progress: none, tensorboard: false}}
""")
    run([SMLAB, "train", cfg, "--run-dir", os.path.join(work, f"run-{model}")])
    art = os.path.join(work, f"{model}.pt")
    derived = [f for f in formats if f not in ("torchscript", "compile")]
    fmt = "torchscript" if not derived else derived[0] if len(derived) == 1 else "all"
    run([SMLAB, "export", os.path.join(work, f"run-{model}"), "--checkpoint", "last", "--output", art, "--format", fmt])
    return art


# Variants per format: (side, format, smlab --model suffix or the peer's loader)
VARIANTS = {"torchscript": [("smlab", "torchscript", ".pt"), ("peer", "torchscript", "jit")],
            "pt2": [("smlab", "pt2", ".pt2"), ("peer", "pt2", "aoti")],
            "onnx": [("peer", "onnx", "ort")],
            "compile": [("peer", "compile", "compile")]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="text_cnn")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="")
    ap.add_argument("--modes", default="padded,bucketed", help="padded, bucketed or both (each for smlab and the peer)")
    ap.add_argument("--formats", default="torchscript",
                    help="torchscript, pt2, onnx: the formats scored (issue 18); compile: a torch.compile peer (issue 24)")
    a = ap.parse_args()
    if not os.path.exists(TEST):
        print(f"skipping: {TEST} not found (set SMLAB_DATA)")
        return 0
    import torch
    results, format_rows = [], []
    with tempfile.TemporaryDirectory() as work:
        lines = [l for l in open(TEST, encoding="utf-8")]
        with open(os.path.join(work, "corpus.txt"), "w", encoding="utf-8") as f:
            for l in lines:
                f.write(l.rstrip("\n").split("\t")[2] + "\n")
        run([SMLAB, "tokenizer", "train", "--input", os.path.join(work, "corpus.txt"), "--model-prefix",
             os.path.join(work, "tok"), "--vocab-size", "8000"])
        inp = os.path.join(work, "in.tsv")
        with open(inp, "w", encoding="utf-8") as f:
            for r in range(a.repeat):
                for l in lines:
                    p = l.rstrip("\n").split("\t")
                    f.write(f"{p[0]}-{r}\t{p[1]}\t{p[2]}\n")
        n_in = len(lines) * a.repeat
        peer_py = os.path.join(work, "peer.py")
        open(peer_py, "w").write(f"TOOLS = {os.path.join(ROOT, 'tools')!r}\n" + PEER)
        for model in a.models.split(","):
            formats = a.formats.split(",")
            art = make_artifact(work, model, formats)
            modes = a.modes.split(",")
            extra_variants = [v for f in formats if f != "torchscript" for v in VARIANTS[f]]
            xtimes = {(f"{side} {fmt}", mode): [] for side, fmt, _ in extra_variants for mode in modes}
            times = {(side, mode): [] for side in ("smlab", "peer") for mode in modes}
            cpu = {(side, mode): [] for side in ("smlab", "peer") for mode in modes}
            loads = []
            for i in range(a.runs):  # interleave: one run of every variant per round
                for mode in modes:
                    out = os.path.join(work, f"{model}-s-{mode}{i}.csv")
                    extra = ["--no-bucket"] if mode == "padded" else []
                    loads.append(os.getloadavg()[0])
                    t0, c0 = time.perf_counter(), child_cpu()
                    run([SMLAB, "score", "--model", art, "--input", inp, "--output", out, "--id-field", "0", "--text-field",
                         "2", "--threads", str(a.threads), "--workers", str(a.workers), "--batch-size", str(a.batch),
                         "--quiet"] + extra)
                    times[("smlab", mode)].append(time.perf_counter() - t0)
                    cpu[("smlab", mode)].append(child_cpu() - c0)
                    rows_ours = sum(1 for _ in open(out)) - 1
                    pout = os.path.join(work, f"{model}-p-{mode}{i}.csv")
                    loads.append(os.getloadavg()[0])
                    t0, c0 = time.perf_counter(), child_cpu()
                    r = run([sys.executable, peer_py, art, os.path.join(work, "tok.model"), inp, pout, str(a.threads),
                             str(a.batch), "1" if mode == "bucketed" else "0"])
                    times[("peer", mode)].append(time.perf_counter() - t0)
                    cpu[("peer", mode)].append(child_cpu() - c0)
                    rows_peer = json.loads(r.stdout.strip().splitlines()[-1])["rows"]
                    for side, fmt, how in extra_variants:  # the same job through the other formats
                        o2 = os.path.join(work, f"{model}-{side}-{fmt}-{mode}{i}.csv")
                        loads.append(os.getloadavg()[0])
                        t0 = time.perf_counter()
                        if side == "smlab":
                            run([SMLAB, "score", "--model", art[:-3] + how, "--input", inp, "--output", o2, "--id-field",
                                 "0", "--text-field", "2", "--threads", str(a.threads), "--workers", str(a.workers),
                                 "--batch-size", str(a.batch), "--quiet"] + extra)
                        else:
                            run([sys.executable, peer_py, art, os.path.join(work, "tok.model"), inp, o2, str(a.threads),
                                 str(a.batch), "1" if mode == "bucketed" else "0", how])
                        xtimes[(f"{side} {fmt}", mode)].append(time.perf_counter() - t0)
            loads.append(os.getloadavg()[0])
            # Same labels on (nearly) every row: the two sides compute the same thing.
            def labels(path):
                return {l.split(",")[0]: l.split(",")[1] for l in open(path)}
            ref = labels(os.path.join(work, f"{model}-s-{modes[0]}0.csv"))
            for mode in modes:
                lp = labels(os.path.join(work, f"{model}-p-{mode}0.csv"))
                ls = labels(os.path.join(work, f"{model}-s-{mode}0.csv"))
                mo, mt = statistics.median(times[("smlab", mode)]), statistics.median(times[("peer", mode)])
                res = {"model": model, "mode": mode, "inputs": n_in, "rows_smlab": rows_ours, "rows_peer": rows_peer,
                       "smlab_s": times[("smlab", mode)], "peer_s": times[("peer", mode)],
                       "smlab_rows_per_s": n_in / mo, "peer_rows_per_s": n_in / mt, "ratio": mt / mo,
                       # Less sensitive to a loaded machine: the median of each round's peer/smlab wall
                       # time ratio (the two runs are adjacent), and the ratio of median CPU seconds.
                       "ratio_paired_median": statistics.median(
                           p / q for p, q in zip(times[("peer", mode)], times[("smlab", mode)])),
                       "smlab_cpu_s": cpu[("smlab", mode)], "peer_cpu_s": cpu[("peer", mode)],
                       "ratio_cpu": statistics.median(cpu[("peer", mode)]) / statistics.median(cpu[("smlab", mode)]),
                       "label_agreement": sum(ls.get(k) == v for k, v in lp.items()) / max(len(lp), 1),
                       "label_agreement_vs_first_mode": sum(ref.get(k) == v for k, v in ls.items()) / max(len(ls), 1),
                       "load_avg_1min": [round(l, 2) for l in loads]}
                results.append(res)
                print(json.dumps(res))
            for mode in modes if extra_variants else []:
                var = {"smlab torchscript": times[("smlab", mode)], "peer torchscript": times[("peer", mode)],
                       **{k: v for (k, m_), v in xtimes.items() if m_ == mode}}
                med = {k: statistics.median(v) for k, v in var.items()}
                best_s = min((k for k in med if k.startswith("smlab")), key=med.get)
                best_p = min((k for k in med if k.startswith("peer")), key=med.get)
                format_rows.append({"model": model, "mode": mode, "rows_per_s": {k: n_in / t for k, t in med.items()},
                                    "best_smlab": best_s, "best_peer": best_p, "ratio": med[best_p] / med[best_s],
                                    "times": var})
            if "padded" in modes and "bucketed" in modes:
                sb, pp = ("smlab", "bucketed"), ("peer", "padded")
                mo, mt = statistics.median(times[sb]), statistics.median(times[pp])
                results.append({"model": model, "mode": "smlab bucketed vs peer padded", "inputs": n_in,
                                "smlab_rows_per_s": n_in / mo, "peer_rows_per_s": n_in / mt, "ratio": mt / mo,
                                "ratio_paired_median": statistics.median(p / q for p, q in zip(times[pp], times[sb])),
                                "ratio_cpu": statistics.median(cpu[pp]) / statistics.median(cpu[sb]),
                                "label_agreement": float("nan")})
    lines = ["| model | mode | inputs | smlab rows/s | Python rows/s | ratio of medians | median of paired ratios | CPU-time ratio | label agreement |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['mode']} | {r['inputs']} | {r['smlab_rows_per_s']:.0f} | {r['peer_rows_per_s']:.0f} | "
                     f"**{r['ratio']:.2f}x** | {r['ratio_paired_median']:.2f}x | {r['ratio_cpu']:.2f}x | {r['label_agreement']:.4f} |")
    table = "\n".join(lines)
    if format_rows:
        names = list(format_rows[0]["rows_per_s"])
        t2 = ["| model | mode | " + " | ".join(f"{n} rows/s" for n in names) + " | best smlab / best Python peer |",
              "|---|---|" + "---|" * (len(names) + 1)]
        for r in format_rows:
            t2.append(f"| {r['model']} | {r['mode']} | " + " | ".join(f"{r['rows_per_s'][n]:.0f}" for n in names) +
                      f" | **{r['ratio']:.2f}x** ({r['best_smlab']} vs {r['best_peer']}) |")
        table += "\n\nFormats (issue 18):\n\n" + "\n".join(t2)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(f"# CPU batch scoring: smlab score vs Python PyTorch {torch.__version__}\n\n")
            f.write(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
                    f"threads {a.threads}, smlab workers {a.workers}, batch {a.batch}; median of {a.runs} alternating runs, "
                    "each timed from process start to the written output.\n\n")
            loads = [l for r in results for l in r.get("load_avg_1min", [])]
            if loads:
                f.write(f"Load average (1 min) sampled before every run: min {min(loads):.2f}, median "
                        f"{statistics.median(loads):.2f}, max {max(loads):.2f} on {os.cpu_count()} cores.\n\n")
            commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
            f.write(f"Command: `python3 bench/score_bench.py --models {a.models} --threads {a.threads} --repeat {a.repeat} "
                    f"--runs {a.runs} --modes {a.modes} --formats {a.formats} --out {a.out}` (commit {commit})\n\n{table}\n\n"
                    f"Raw: `{json.dumps(results)}`\n" + (f"\nRaw formats: `{json.dumps(format_rows)}`\n" if format_rows else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
