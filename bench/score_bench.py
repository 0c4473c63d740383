#!/usr/bin/env python3
"""Batch-scoring throughput: `smlab score` against Python PyTorch 2.11 running the same
TorchScript artifact with a plain-Python batching loop (sentencepiece tokenisation, padding,
forward, softmax, top-k, CSV rows), in the same run, on the same input and thread count.

Text (CPU): SemEval-2017 4A test tweets (12,284, replicated --repeat times so that a run lasts a
few seconds), for each sentiment model given. The artifact comes from a short smlab run (weights
do not change throughput) exported with `smlab export`; both sides time the whole job from
process start: loading the artifact, reading, tokenising, scoring and writing the output.

usage: bench/score_bench.py [--models text_cnn,bilstm] [--threads 2] [--repeat 4] [--runs 3] [--out FILE.md]
Needs build/smlab and the shared datasets (SMLAB_DATA, default ../shared/datasets).
"""
import argparse
import json
import os
import platform
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
artifact, tok, inp, out, threads, batch = sys.argv[1:7]
torch.set_num_threads(int(threads))
extra = {"smlab.json": ""}
m = torch.jit.load(artifact, _extra_files=extra)
meta = json.loads(extra["smlab.json"])
max_len, classes = meta["input"]["max_len"], meta["classes"]
sp = spm.SentencePieceProcessor(model_file=tok)
batch = int(batch)
rows = 0
with open(inp, encoding="utf-8") as f, open(out, "w", newline="") as o, torch.no_grad():
    w = csv.writer(o)
    w.writerow(["id", "label", "confidence", "top_k"] + ["p_" + c for c in classes])
    def flush(ids, texts):
        enc = sp.encode(texts)
        x = torch.zeros(len(texts), max_len, dtype=torch.long)
        for i, e in enumerate(enc):
            e = e[:max_len]
            x[i, :len(e)] = torch.tensor(e, dtype=torch.long)
        p = torch.softmax(m(x).float(), 1)
        tp, ti = p.topk(min(5, len(classes)), 1)
        for i in range(len(ids)):
            top = ";".join(f"{classes[j]}:{v:.6g}" for v, j in zip(tp[i].tolist(), ti[i].tolist()))
            w.writerow([ids[i], classes[ti[i, 0]], f"{tp[i, 0].item():.6g}", top] + [f"{v:.6g}" for v in p[i].tolist()])
    ids, texts = [], []
    for line in f:
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3 or not parts[2].strip():
            continue
        ids.append(parts[0]); texts.append(parts[2])
        if len(ids) == batch:
            flush(ids, texts); rows += len(ids); ids, texts = [], []
    if ids:
        flush(ids, texts); rows += len(ids)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0}))
'''


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r


def make_artifact(work, model):
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
    run([SMLAB, "export", os.path.join(work, f"run-{model}"), "--checkpoint", "last", "--output", art])
    return art


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="text_cnn")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if not os.path.exists(TEST):
        print(f"skipping: {TEST} not found (set SMLAB_DATA)")
        return 0
    import torch
    results = []
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
        open(peer_py, "w").write(PEER)
        for model in a.models.split(","):
            art = make_artifact(work, model)
            ours, theirs = [], []
            for i in range(a.runs):  # alternate the two sides
                out = os.path.join(work, f"{model}-s{i}.csv")
                t0 = time.perf_counter()
                run([SMLAB, "score", "--model", art, "--input", inp, "--output", out, "--id-field", "0", "--text-field",
                     "2", "--threads", str(a.threads), "--workers", str(a.workers), "--batch-size", str(a.batch), "--quiet"])
                ours.append(time.perf_counter() - t0)
                rows_ours = sum(1 for _ in open(out)) - 1
                pout = os.path.join(work, f"{model}-p{i}.csv")
                t0 = time.perf_counter()
                r = run([sys.executable, peer_py, art, os.path.join(work, "tok.model"), inp, pout, str(a.threads), str(a.batch)])
                theirs.append(time.perf_counter() - t0)
                rows_peer = json.loads(r.stdout.strip().splitlines()[-1])["rows"]
            # Same labels on (nearly) every row: the two sides compute the same thing.
            ls = {l.split(",")[0]: l.split(",")[1] for l in open(os.path.join(work, f"{model}-s0.csv"))}
            lp = {l.split(",")[0]: l.split(",")[1] for l in open(os.path.join(work, f"{model}-p0.csv"))}
            agree = sum(ls.get(k) == v for k, v in lp.items()) / max(len(lp), 1)
            mo, mt = statistics.median(ours), statistics.median(theirs)
            res = {"model": model, "inputs": n_in, "rows_smlab": rows_ours, "rows_peer": rows_peer,
                   "smlab_s": ours, "peer_s": theirs, "smlab_rows_per_s": n_in / mo, "peer_rows_per_s": n_in / mt,
                   "ratio": mt / mo, "label_agreement": agree}
            results.append(res)
            print(json.dumps(res))
    lines = [f"| model | inputs | smlab rows/s | Python rows/s | ratio (smlab / Python) | label agreement |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['inputs']} | {r['smlab_rows_per_s']:.0f} | {r['peer_rows_per_s']:.0f} | "
                     f"**{r['ratio']:.2f}x** | {r['label_agreement']:.4f} |")
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(f"# CPU batch scoring: smlab score vs Python PyTorch {torch.__version__}\n\n")
            f.write(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
                    f"threads {a.threads}, smlab workers {a.workers}, batch {a.batch}; median of {a.runs} alternating runs, "
                    "each timed from process start to the written output.\n\n")
            f.write(f"Command: `python3 bench/score_bench.py --models {a.models} --threads {a.threads} --repeat {a.repeat} "
                    f"--runs {a.runs} --out {a.out}`\n\n{table}\n\nRaw: `{json.dumps(results)}`\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
