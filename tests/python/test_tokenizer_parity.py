"""Parity of smlab's SentencePiece wrapper with Python `sentencepiece` on real tweets.

Trains a unigram and a BPE model with `smlab tokenizer train` on a few thousand SemEval-2017 Task 4A
training tweets, encodes 500 held-out tweets (the 2017 test set) with `smlab tokenizer encode` and
with Python sentencepiece loading the same .model file, and requires identical ids, line by line.
Also checks the trained model's settings (vocab size, pad 0, unk 1). Exit 77 (skip) without the data.

One known, documented exception: the C++ library is Debian's sentencepiece 0.1.97 and the Python
package is 0.2.x, whose unigram Viterbi breaks exact ties differently (e.g. "f"+"fff" vs "fff"+"f").
A unigram line may differ only if both segmentations decode to the same text and have exactly the
same total piece score (both are optimal), and such ties must stay rare (< 2% of lines). BPE must be
identical on every line.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import sentencepiece as spm
except ImportError:
    print("SKIP: python sentencepiece is not installed")
    sys.exit(77)

root = Path(os.environ.get("SMLAB_DATA", Path(os.environ.get("SMLAB_SOURCE_DIR", ".")) / ".." / "shared" / "datasets"))
train_tsv = root / "semeval2017_task4a" / "train_pool" / "twitter-2013train-A.tsv"
test_tsv = root / "semeval2017_task4a" / "test2017" / "SemEval2017-task4-test.subtask-A.english.txt"
if not train_tsv.exists() or not test_tsv.exists():
    print(f"SKIP: SemEval-2017 data not found under {root} (set SMLAB_DATA)")
    sys.exit(77)

smlab = os.environ.get("SMLAB_BIN", "build/smlab")


def tweets(path, n):
    out = []
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3 and cols[2]:
                out.append(cols[2])
            if len(out) == n:
                break
    return out


failures = 0
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    train_txt, test_txt = d / "train.txt", d / "test.txt"
    train_txt.write_text("\n".join(tweets(train_tsv, 4000)) + "\n", encoding="utf-8")
    test_lines = tweets(test_tsv, 500)
    assert len(test_lines) == 500
    test_txt.write_text("\n".join(test_lines) + "\n", encoding="utf-8")
    for model_type, vocab in (("unigram", 2000), ("bpe", 1500)):
        prefix = d / f"tok_{model_type}"
        subprocess.run([smlab, "tokenizer", "train", "--input", str(train_txt), "--model-prefix", str(prefix),
                        "--vocab-size", str(vocab), "--model-type", model_type],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sp = spm.SentencePieceProcessor(model_file=str(prefix) + ".model")
        assert sp.get_piece_size() == vocab, (model_type, sp.get_piece_size())
        assert sp.pad_id() == 0 and sp.unk_id() == 1, (sp.pad_id(), sp.unk_id())
        out = subprocess.run([smlab, "tokenizer", "encode", "--model", str(prefix) + ".model", "--input", str(test_txt)],
                             check=True, capture_output=True, text=True).stdout.split("\n")
        assert out[-1] == "" and len(out) == 501, len(out)
        total = ties = 0
        for i, line in enumerate(test_lines):
            ours = [int(t) for t in out[i].split()]
            ref = sp.encode(line, out_type=int)
            total += len(ref)
            if ours == ref:
                continue
            tie = (model_type == "unigram" and sp.decode(ours) == sp.decode(ref)
                   and sum(sp.get_score(t) for t in ours) == sum(sp.get_score(t) for t in ref))
            if tie:
                ties += 1
                print(f"TIE {model_type} line {i}: equal-score segmentations\n  smlab  {sp.id_to_piece(ours)}\n"
                      f"  python {sp.id_to_piece(ref)}")
                continue
            failures += 1
            if failures <= 5:
                print(f"MISMATCH {model_type} line {i}: {line!r}\n  smlab  {ours}\n  python {ref}")
        if ties >= 10:
            failures += 1
            print(f"FAIL: {ties} equal-score ties out of 500 lines is more than expected")
        print(f"{model_type}: vocab {vocab}, 500 tweets, {total} ids compared, {ties} equal-score tie lines")

if failures:
    print(f"FAIL: {failures} lines differ")
    sys.exit(1)
print("OK: smlab and Python sentencepiece give identical ids")
