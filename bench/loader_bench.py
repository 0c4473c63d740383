#!/usr/bin/env python3
"""Input-pipeline throughput: smlab's loader over packed HDF5 shards against PyTorch's DataLoader
over the same shards read with h5py, same batch size, same worker count, same output (float32
[B, C, H, W] in [0, 1] plus int64 labels, shuffled), in the same run.

Data:
  cifar  the shared CIFAR-10 JPEG tarball's train split (50,000 32x32 images), packed by smlab
  224    N generated 224x224 JPEGs (smooth colour fields with noise, 10 class folders), packed by
         smlab; packing time is also reported as JPEG decode + pack images/s on one core
         (smlab pack pinned to one CPU with taskset)
  text   the SemEval-2017 test tweets (12,284) packed by smlab into text shards, tokenised with one
         SentencePiece model (8,000 pieces, trained here with Python sentencepiece) into int64 ids
         [B, 64] padded with 0: smlab's text_tsv tokenises the shards once when the dataset is built;
         the peers tokenise in __getitem__ (per record), as a PyTorch text pipeline does. The
         end-to-end column (open + one epoch) is the fair one for text.

Peers (each a fresh process; runs alternate smlab / peers; the median of --runs is reported):
  smlab          `smlab bench loader`: shards read into memory once, worker threads gather batches
  dataloader     torch.utils.data.DataLoader(num_workers=W) over a Dataset whose __getitem__
                 reads one record with h5py (each worker opens the shards itself), default collate:
                 the usual way to feed PyTorch from HDF5
  dataloader-mem the same DataLoader over the shards read into numpy arrays first (smlab's strategy),
                 so the ratio shows the loader itself rather than HDF5 chunk decompression

usage: bench/loader_bench.py [--sets cifar,224,text] [--n224 4000] [--workers 2] [--batch 256]
                             [--epochs 1] [--runs 3] [--out FILE.md]
Needs build/smlab, h5py, and the shared datasets (SMLAB_DATA, default ../shared/datasets).
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMLAB = os.environ.get("SMLAB_BIN", os.path.join(ROOT, "build", "smlab"))
DATA = os.environ.get("SMLAB_DATA", os.path.join(ROOT, "..", "shared", "datasets"))
CIFAR = os.path.join(DATA, "cifar10_jpg_yoongikim", "CIFAR-10-images_HEAD.tar.gz")
TWEETS = os.path.join(DATA, "semeval2017_task4a", "test2017", "SemEval2017-task4-test.subtask-A.english.txt")

PEER = r'''
import glob, json, os, sys, time
import h5py, numpy as np, torch
from torch.utils.data import DataLoader, Dataset
folder, mode, batch, workers, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tokenizer = sys.argv[6] if len(sys.argv) > 6 else ""
torch.set_num_threads(1)
shards = sorted(glob.glob(os.path.join(folder, "shard-*.h5")))
MAX_LEN = 64
sp = None

def tokens(text):
    global sp
    if sp is None:
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(model_file=tokenizer)
    ids = sp.encode(text)[:MAX_LEN]
    x = torch.zeros(MAX_LEN, dtype=torch.long)
    x[:len(ids)] = torch.tensor(ids, dtype=torch.long)
    return x

def convert(rec):
    if tokenizer:
        return tokens(rec.decode("utf-8") if isinstance(rec, bytes) else rec)
    return torch.from_numpy(rec).permute(2, 0, 1).float().div_(255)

FIELD = "texts" if tokenizer else "images"

class Lazy(Dataset):
    """One record per __getitem__ through h5py; files opened per worker on first use."""
    def __init__(self):
        self.files, self.index = None, []
        for s, path in enumerate(shards):
            with h5py.File(path, "r") as f:
                self.index += [(s, i) for i in range(f["labels"].shape[0])]
    def __len__(self):
        return len(self.index)
    def __getitem__(self, k):
        if self.files is None:
            self.files = [h5py.File(p, "r") for p in shards]
        s, i = self.index[k]
        f = self.files[s]
        return convert(f[FIELD][i]), int(f["labels"][i])

class InMemory(Dataset):
    def __init__(self):
        xs, ys = [], []
        for path in shards:
            with h5py.File(path, "r") as f:
                xs.append(f[FIELD][:])
                ys.append(f["labels"][:])
        self.x, self.y = np.concatenate(xs), np.concatenate(ys)
    def __len__(self):
        return len(self.y)
    def __getitem__(self, k):
        return convert(self.x[k]), int(self.y[k])

t0 = time.perf_counter()
ds = Lazy() if mode == "lazy" else InMemory()
open_s = time.perf_counter() - t0
loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                    persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
n = 0
t1 = time.perf_counter()
for e in range(epochs):
    for x, y in loader:
        n += x.shape[0]
sec = time.perf_counter() - t1
print(json.dumps({"samples": n, "seconds": sec, "samples_per_s": n / sec, "open_seconds": open_s}))
'''


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def make_224(folder, n):
    """N 224x224 JPEGs: smooth random colour fields plus noise (compress like photos, not like noise)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224] / 224.0
    for i in range(n):
        c = i % 10
        os.makedirs(os.path.join(folder, f"class{c}"), exist_ok=True)
        a = rng.uniform(0, 255, size=(3, 3))
        img = np.stack([a[k, 0] + (a[k, 1] - a[k, 0]) * xx + (a[k, 2] - a[k, 0]) * yy for k in range(3)], -1) / 2
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, f"class{c}", f"{i:06d}.jpg"), quality=90)


def pack(src, dst, extra):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    cmd = [SMLAB, "pack", src, dst] + extra
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"pack failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="cifar,224,text")
    ap.add_argument("--n224", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="smlab_loader_bench_")
    rows, notes = [], []
    for name in a.sets.split(","):
        if name == "cifar":
            shards = os.path.join(work, "cifar_train")
            secs = pack(CIFAR, shards, ["--split", "train"])
            notes.append(f"CIFAR-10 train (50,000 JPEG 32x32 in a tar.gz): smlab pack {secs:.1f} s on one core, "
                         f"{50000 / secs:,.0f} images/s (gzip + JPEG decode + HDF5 write)")
        elif name == "224":
            raw = os.path.join(work, "jpeg224")
            if not os.path.isdir(raw):
                make_224(raw, a.n224)
            shards = os.path.join(work, "s224")
            secs = pack(raw, shards, [])
            notes.append(f"{a.n224} JPEG 224x224 (quality 90) from a folder: smlab pack {secs:.1f} s on one core, "
                         f"**{a.n224 / secs:,.0f} images/s per core** (JPEG decode + HDF5 write, deflate 4)")
        elif name == "text":
            shards = os.path.join(work, "tweets")
            secs = pack(TWEETS, shards, ["--kind", "text", "--unescape"])
            notes.append(f"SemEval-2017 test tweets (12,284 rows of TSV) to text shards: smlab pack {secs:.1f} s on one core")
        else:
            sys.exit(f"unknown set {name} (cifar, 224, text)")
        tok = ""
        data = ["data.name=hdf5_images", f"data.train={shards}", "data.val_fraction=0"]
        if name == "text":
            import h5py
            import sentencepiece
            texts = []
            for f in sorted(os.listdir(shards)):
                if f.endswith(".h5"):
                    with h5py.File(os.path.join(shards, f), "r") as h:
                        texts += [t.decode("utf-8") for t in h["texts"][:]]
            corpus = os.path.join(work, "tweets.txt")
            with open(corpus, "w", encoding="utf-8") as f:
                f.write("\n".join(t.replace("\n", " ") for t in texts) + "\n")
            tok = os.path.join(work, "tweets_sp")
            sentencepiece.SentencePieceTrainer.train(input=corpus, model_prefix=tok, vocab_size=8000, pad_id=0, unk_id=1,
                                                     bos_id=-1, eos_id=-1, minloglevel=2)
            tok += ".model"
            data = ["data.name=text_tsv", f"data.train={shards}", "data.val_fraction=0", f"data.tokenizer={tok}",
                    "data.max_len=64"]
        smlab_cmd = [SMLAB, "bench", "loader"] + data + ["--batch", str(a.batch), "--workers", str(a.workers),
                                                         "--epochs", str(a.epochs)]
        peer = lambda mode: [sys.executable, "-c", PEER, shards, mode, str(a.batch), str(a.workers), str(a.epochs)] + (
            [tok] if tok else [])
        res = {"smlab": [], "dataloader": [], "dataloader-mem": []}
        for _ in range(a.runs):
            res["smlab"].append(run_json(smlab_cmd))
            res["dataloader"].append(run_json(peer("lazy")))
            res["dataloader-mem"].append(run_json(peer("mem")))
        med = {k: statistics.median(r["samples_per_s"] for r in v) for k, v in res.items()}
        opn = {k: statistics.median(r["open_seconds"] for r in v) for k, v in res.items()}
        e2e = {k: statistics.median(r["samples"] / (r["seconds"] + r["open_seconds"]) for r in v) for k, v in res.items()}
        rows.append((name, med, opn, res, e2e))
        print(name, json.dumps(med), file=sys.stderr)

    lines = ["# Loader throughput: smlab vs PyTorch DataLoader + h5py", "",
             f"- date: {time.strftime('%Y-%m-%d')}",
             f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
             f"torch {__import__('torch').__version__}, h5py {__import__('h5py').__version__}",
             f"- batch {a.batch}, {a.workers} workers on both sides (smlab: threads; DataLoader: processes), "
             f"{a.epochs} epoch(s) per run, shuffled, images as float32 [B, C, H, W] in [0, 1], texts as int64 ids [B, 64], + int64 labels; "
             f"median of {a.runs} alternating runs, each a fresh process",
             f"- command: `.venv/bin/python bench/loader_bench.py --sets {a.sets} --workers {a.workers} "
             f"--batch {a.batch} --runs {a.runs}`", "",
             "| data | smlab samples/s | DataLoader + h5py per record | ratio (target >= 2) | DataLoader over in-memory arrays | ratio | open s (smlab / h5py lazy / in-memory) | end-to-end samples/s incl. open (smlab / lazy / in-memory) |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for name, med, opn, _, e2e in rows:
        lines.append(f"| {name} | {med['smlab']:,.0f} | {med['dataloader']:,.0f} | **{med['smlab'] / med['dataloader']:.2f}** "
                     f"| {med['dataloader-mem']:,.0f} | {med['smlab'] / med['dataloader-mem']:.2f} "
                     f"| {opn['smlab']:.2f} / {opn['dataloader']:.2f} / {opn['dataloader-mem']:.2f} "
                     f"| {e2e['smlab']:,.0f} / {e2e['dataloader']:,.0f} / {e2e['dataloader-mem']:,.0f} |")
    lines += ["", "Packing:", ""] + [f"- {n}" for n in notes] + ["", "Per-run samples/s:", ""]
    for name, _, _, res, _ in rows:
        for k, v in res.items():
            lines.append(f"- {name} {k}: " + ", ".join(f"{r['samples_per_s']:,.0f}" for r in v))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
