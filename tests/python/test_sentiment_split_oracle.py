"""The sentiment experiment's training split, recomputed by an independent Python implementation.

experiments/sentiment/common.yaml trains on the SemEval-2017 train pool normalised like TweetEval
(`normalize: tweeteval`), minus every tweet whose text occurs in TweetEval's sentiment val or test
set (`exclude_eval`), with duplicates merged and label conflicts dropped (`dedup`). This script
re-implements those rules from their documentation (datasets/text_prep.h, docs/data.md) on the raw
files and requires smlab's report line (printed by `smlab tokenizer train --config`) to give the
same counts at every stage and per class. It also checks TweetEval's own claim about the test set:
the normalised SemEval-2017 test tweets equal TweetEval's test text (all but a handful that differ
by non-breaking spaces). Exit 77 (skip) without the data.
"""
import collections
import glob
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

root = Path(os.environ.get("SMLAB_DATA", Path(os.environ.get("SMLAB_SOURCE_DIR", ".")) / ".." / "shared" / "datasets"))
pool = root / "semeval2017_task4a" / "train_pool"
te = root / "tweeteval" / "sentiment"
if not pool.is_dir() or not (te / "test_text.txt").exists():
    print(f"SKIP: SemEval-2017 / TweetEval data not found under {root} (set SMLAB_DATA)")
    sys.exit(77)
root = root.resolve()
smlab = os.environ.get("SMLAB_BIN", "build/smlab")
source = Path(os.environ.get("SMLAB_SOURCE_DIR", "."))


def unescape(s):
    s = re.sub(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})",
               lambda m: chr(0x10000 + ((int(m.group(1), 16) - 0xD800) << 10) + (int(m.group(2), 16) - 0xDC00)), s)
    return re.sub(r"\\u([0-9a-fA-F]{4})",
                  lambda m: "\ufffd" if 0xD800 <= int(m.group(1), 16) < 0xE000 else chr(int(m.group(1), 16)), s)


def normalize(t):
    out = []
    for w in re.split(r"[ \t\n\r\v\f]+", t):
        if not w:
            continue
        p = len(w) - len(w.lstrip('"'))
        if p < len(w) and w[p] == "@" and len(w) - p > 1:
            w = "@user"
        elif w.startswith("http"):
            continue
        out.append(w)
    return " ".join(out)


ENTITIES = [("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&apos;", "'")]


def decode_entities(t):
    out, i = [], 0
    while i < len(t):
        for a, b in ENTITIES:
            if t.startswith(a, i):
                out.append(b)
                i += len(a)
                break
        else:
            out.append(t[i])
            i += 1
    return "".join(out)


def key(t):
    t = normalize(decode_entities(unescape(t)))
    return "".join(c.lower() if ord(c) < 128 else c for c in t if ord(c) >= 128 or (c.isascii() and c.isalnum()))


def lines(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        return [l.rstrip("\n").rstrip("\r") for l in f]


rows, bad = [], 0
for f in sorted(glob.glob(str(pool / "*.tsv"))):
    expected = None
    for l in lines(f):
        if not l:
            continue
        c = l.split("\t")
        while len(c) > 3 and c[-1] == "":
            c.pop()
        expected = expected or max(len(c), 3)
        if len(c) != expected:
            bad += 1
            continue
        rows.append((c[1], normalize(unescape(c[2]))))
excluded = {key(unescape(t)) for split in ("val", "test") for t in lines(te / f"{split}_text.txt")}
kept = [(l, t) for l, t in rows if key(t) not in excluded]
first, agree = {}, {}
keys = [key(t) for _, t in kept]
for i, (k, (l, _)) in enumerate(zip(keys, kept)):
    if k not in first:
        first[k], agree[k] = i, True
    elif kept[first[k]][0] != l:
        agree[k] = False
final, conflict_rows = [], 0
for i, (k, row) in enumerate(zip(keys, kept)):
    if not agree[k]:
        conflict_rows += 1
    elif first[k] == i:
        final.append(row)
per = collections.Counter(l for l, _ in final)
fmt = "{:,}".format
want = (f"{fmt(len(rows))} records, {fmt(bad)} bad records skipped (skip_bad), {fmt(len(rows) - len(kept))} removed as "
        f"texts of sentiment/val_text.txt, sentiment/test_text.txt, {fmt(len(kept) - len(final) - conflict_rows)} duplicate copies merged, "
        f"{fmt(conflict_rows)} records of {fmt(sum(not v for v in agree.values()))} texts with conflicting labels dropped "
        f"-> {fmt(len(final))} (negative {fmt(per['negative'])} neutral {fmt(per['neutral'])} positive {fmt(per['positive'])})")
print("python:", want)

failures = 0
with tempfile.TemporaryDirectory() as d:
    env = dict(os.environ, SMLAB_DATA=str(root))
    r = subprocess.run([smlab, "tokenizer", "train", "--config", str(source / "experiments/sentiment/text_cnn.yaml"),
                        "--model-prefix", str(Path(d) / "tok"), "--vocab-size", "300"],
                       cwd=source, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        sys.exit(1)
    report = [l for l in r.stderr.splitlines() if l.startswith("[smlab] train split from")]
    if len(report) != 1:
        print("no report line in:\n", r.stderr[-3000:])
        sys.exit(1)
    print("smlab: ", report[0])
    if not report[0].endswith(": " + want):
        print("FAIL: the counts differ")
        failures += 1

# TweetEval's test text is the SemEval-2017 test set under this normalisation.
semeval_test = [l.split("\t") for l in lines(root / "semeval2017_task4a/test2017/SemEval2017-task4-test.subtask-A.english.txt") if l]
tweeteval_test = {" ".join(t.split(" ")).strip() for t in lines(te / "test_text.txt")}
tweeteval_test = {re.sub(" +", " ", t) for t in tweeteval_test}
same = sum(normalize(c[2]) in tweeteval_test for c in semeval_test)
print(f"normalised SemEval-2017 test tweets found verbatim in TweetEval's test text: {same} / {len(semeval_test)}")
if same < len(semeval_test) - 10:
    print("FAIL: the normalisation does not reproduce TweetEval's test text")
    failures += 1
sys.exit(1 if failures else 0)
