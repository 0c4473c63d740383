#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<name>/), small files taken from
the tests, the fixtures and the experiment configs. Run once with the venv's Python (torch, h5py);
the files are committed, so neither the fuzz build nor the unit test runs this.

    /path/to/.venv/bin/python tests/fuzz/make_corpus.py
"""
import gzip
import io
import json
import os
import struct
import tarfile
import zipfile
import zlib

import h5py
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(name, file, data):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, file), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def archive(files):
    """The text archive of fuzz_common.h unpack_files: "@@ NAME" lines, each followed by the content."""
    out = b""
    for name, content in files:
        content = content.encode() if isinstance(content, str) else content
        out += b"@@ " + name.encode() + b"\n" + content + b"\n"
    return out


def config():
    qs = open(os.path.join(ROOT, "experiments", "quickstart.yaml")).read()
    put("config", "quickstart.yaml", qs)
    put("config", "stand_in_components.yaml",
        "version: 1\nmodel: {name: beta, k: 4, sizes: [2, 3]}\noptim: {name: alpha, lr: 0.1}\n"
        "augment:\n  train: [alpha, {name: beta, p: 0.3}]\ntrain: {epochs: 2, amp: bf16}\n")
    put("config", "base_and_overrides.yaml",
        "_base_: base.yaml\ntrain:\n  epochs: 3\n\n#--- base\nexperiment:\n  name: ${SMLAB_FUZZ_UNSET:-x}\n"
        "model:\n  name: beta\n  sizes: [4]\n\n#--- overrides\ntrain.epochs=5\nmodel.sizes=[1,2]\n"
        "augment.train.0.p=0.5\n")
    put("config", "aliases.yaml", "a: &a [1, 1, 1]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\ntrain: {epochs: *a}\n")
    put("config", "errors.yaml", "train:\n  epochs: ten\n  epcohs: 4\noptim:\n  lr: .nan\nmodel:\n  hidden: [16, -2]\n")
    put("config", "list_base.yaml", "_base_: [base.yaml, base.yaml]\n#--- base\n_base_: main.yaml\n")


def override():
    put("override", "basic.txt", "train.epochs=3\noptim.lr=0.05\nmodel.hidden=[128]\n")
    put("override", "lists.txt", "augment.train.0.p=0.3\naugment.train.1.scale=[0.5,1]\naugment.train.5=x\n")
    put("override", "bad.txt", "train..epochs=3\n=5\nmodel.hidden\nmodel.hidden.0.x=1\ndata.path=${HOME}\n")


def csv():
    put("csv", "numeric.csv", b"\x00" + b"\xef\xbb\xbfid,like,share\r\n1,2.5,3\n2,\"4\",\n\n3,n/a,7,\n")
    put("csv", "quoted.csv", b"\x01" + b'id,text,label\n1,"a ""quoted"", text",pos\n2,"unterminated,neg\n')
    put("csv", "semeval.tsv", b"\x22" + b"1\tpositive\tgood day \\u00e9\\ud83d\\ude00\n2\tnegative\tbad\t\n3\t\tempty\n")
    put("csv", "tweeteval.txt", b"\x04" + b"hello\nworld\n\n#--- labels\n0\n2 \n\n#--- mapping\n0\tneg\n1\tneu\n2\tpos\n")
    put("csv", "score.jsonl", b"\x80" + b'{"id": 1, "text": "hi"}\n{"id": "b", "features": [1, 2, 3]}\n[1]\nnot json\n\n')
    put("csv", "features.csv", b"\x40" + b"id,a,b,c\nr1,1,2,3\nr2,4,5\n")


def idx():
    put("idx", "images.idx", bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 2, 3) + bytes(range(12)))
    put("idx", "labels.idx.gz", gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 4) + bytes([1, 0, 3, 2])))
    put("idx", "clips.idx", bytes([0, 0, 8, 5]) + struct.pack(">IIIII", 1, 2, 1, 1, 3) + bytes(6))


def tar():
    def make(gz, members, fmt=tarfile.USTAR_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=fmt) as t:
            for name, data in members:
                if data is None:
                    ti = tarfile.TarInfo(name)
                    ti.type = tarfile.DIRTYPE
                    t.addfile(ti)
                else:
                    ti = tarfile.TarInfo(name)
                    ti.size = len(data)
                    t.addfile(ti, io.BytesIO(data))
        data = buf.getvalue()
        if not gz:  # drop tarfile's padding to a 10 KiB record: two zero blocks end an archive
            data = data.rstrip(b"\0")
            data += b"\0" * ((-len(data)) % 512 + 1024)
        return data
    put("tar", "cifar.tar.gz", make(True, [("./cifar/", None), ("./cifar/train/cat/0.png", b"\x89PNG" + bytes(20)),
                                          ("cifar/test/dog/1.png", b"x" * 600)]))
    put("tar", "gnu_long.tar", make(False, [("d/" + "n" * 120 + ".png", b"abc")], tarfile.GNU_FORMAT))
    put("tar", "pax.tar", make(False, [("p/" + "q" * 130 + ".jpg", b"abc")], tarfile.PAX_FORMAT))


def metadata():
    z = zipfile.ZipFile(os.path.join(ROOT, "tests", "fixtures", "artifacts", "format1_mlp.pt"))
    put("metadata", "format1_smlab.json", z.read("format1_mlp/extra/smlab.json"))
    z = zipfile.ZipFile(os.path.join(ROOT, "tests", "fixtures", "artifacts", "format1_smlab_quickstart.pt"))
    name = [n for n in z.namelist() if n.endswith("extra/smlab.json")][0]
    put("metadata", "format1_quickstart.json", z.read(name))
    v2 = {"format": 2, "smlab_version": "0.1.0", "libtorch_version": "2.11.0", "model": "text_cnn",
          "input": {"kind": "tokens", "dtype": "int64", "layout": "N...", "shape": [32],
                    "tokens": {"vocab_size": 100, "pad_id": 0, "max_len": 32, "normalize": "tweeteval",
                               "variable_length": True, "tokenizer": "tok.model"}},
          "output": {"task": "classification", "classes": ["neg", "pos"], "dim": 2, "outputs": "logits",
                     "embed": {"dim": 8, "classifier": "fc", "relative_error": 1e-6},
                     "ensemble": {"members": ["a", "b"], "method": "mean", "temperatures": [1, 2], "weights": []}},
          "config_hash": "abc", "config": "model: {name: text_cnn}\n", "export_check": {"batch": 4, "relative_error": 0}}
    put("metadata", "format2_tokens.json", json.dumps(v2))
    img = {"format": 2, "model": "resnet18", "input": {"kind": "image", "dtype": "uint8", "layout": "NHWC",
           "shape": [32, 32, 3], "pixels": {"resize_shorter": 36, "crop": [32, 32], "mean": [0.5], "std": [0.2]}},
           "output": {"task": "regression", "dim": 1}}
    put("metadata", "format2_image.json", json.dumps(img))
    state = {"epoch": 2, "batch": 0, "step": 120, "samples": 7680, "best": 0.91, "has_best": True, "best_epoch": 2,
             "best_step": 120, "last_eval_step": 120, "bad_evals": 0, "loss_sum": 1.5, "loss_count": 10, "elapsed": 3.2}
    put("metadata", "train_state.json", json.dumps(state))
    buf = io.BytesIO()
    torch.save({"w": torch.arange(4.0)}, buf)
    put("metadata", "checkpoint.pt", buf.getvalue())


def journal():
    def done(i, n, rows, rejects, begin, end, fmt="csv"):
        job = {"input": "in.csv", "model": "m.pt", "records": 4, "output_format": fmt,
               "shard": [i, n], "positions": [begin, end]}
        return json.dumps({"job": job, "rows": rows, "rejects": rejects}, indent=2)
    files = [("out.shard-0-of-2.csv", "id,label\na,x\n"), ("out.shard-0-of-2.csv.rejects.csv", "id,position,reason\n"),
             ("out.shard-0-of-2.csv.done.json", done(0, 2, 1, 0, 0, 2)),
             ("out.shard-1-of-2.csv", "id,label\nb,y\n"),
             ("out.shard-1-of-2.csv.rejects.csv", "id,position,reason\nc,3,bad\n"),
             ("out.shard-1-of-2.csv.done.json", done(1, 2, 1, 1, 2, 4))]
    put("journal", "merge_csv.txt", archive(files))
    files = [("out.shard-0-of-1.jsonl", '{"id": "a"}\n'), ("out.shard-0-of-1.jsonl.rejects.csv", "id,position,reason\n"),
             ("out.shard-0-of-1.jsonl.done.json", done(0, 1, 1, 0, 0, 4, "jsonl"))]
    put("journal", "merge_jsonl.txt", archive(files))
    job = {"input": "in.csv", "model": "m.pt", "records": 4}
    put("journal", "finished.txt", archive([("out.csv", "id\n"), ("out.csv.done.json", json.dumps({"job": job, "rows": 1}))]))
    put("journal", "journal.txt", archive([
        ("j.csv.parts/journal.jsonl", json.dumps({"job": job}) + "\n" + json.dumps({"chunk": 0, "rows": 1}) + "\n{\"chunk\": 1,"),
        ("j.csv.parts/chunk-0000000.out", "a\n"), ("j.csv.parts/chunk-0000000.rej", "")]))


def hdf5():
    def shard(texts=None, images=None, labels=(0, 1), ids=None):
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            f.create_dataset("labels", data=np.array(labels, dtype=np.int64))
            if texts is not None:
                f.create_dataset("texts", data=texts, dtype=h5py.string_dtype("utf-8"))
            if images is not None:
                f.create_dataset("images", data=images)
            if ids is not None:
                f.create_dataset("ids", data=ids, dtype=h5py.string_dtype("utf-8"))
        return buf.getvalue()

    def manifest(kind, data, count, shape=None):
        m = {"format": "smlab-pack", "kind": kind, "classes": ["a", "b"], "count": count,
             "shards": [{"file": "shard-00000.h5", "count": count, "bytes": len(data),
                         "crc32": "%08x" % (zlib.crc32(data) & 0xffffffff)}]}
        if shape:
            m["sample_shape"] = shape
        return json.dumps(m)
    t = shard(texts=["hello", "world"], ids=["x", "y"])
    put("hdf5", "text_pack.txt", archive([("manifest.json", manifest("text", t, 2)), ("shard-00000.h5", t)]))
    im = shard(images=np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3))
    put("hdf5", "image_pack.txt", archive([("manifest.json", manifest("image", im, 2, [2, 2, 3])), ("shard-00000.h5", im)]))
    v = shard(images=np.zeros((2, 2, 2, 2, 3), dtype=np.uint8), labels=(1, 0))
    put("hdf5", "video_shard.txt", archive([("clips.h5", v)]))


if __name__ == "__main__":
    for f in (config, override, csv, idx, tar, metadata, journal, hdf5):
        f()
    for name in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, name))
        print(name, len(files), "files,", sum(os.path.getsize(os.path.join(OUT, name, x)) for x in files), "bytes")
