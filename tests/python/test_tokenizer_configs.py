"""`smlab tokenizer train --config A,B --texts-out F`: one tokenizer over several experiments' training
texts (a pretraining and a fine-tuning task share it), and those texts written out for masked-piece
pretraining. Oracle: the texts each config trains on, worked out by hand from small generated files
(B excludes a text of A's validation file and merges a duplicate); the model is read back with Python
sentencepiece. Also: the usage errors.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

smlab = os.environ.get("SMLAB_BIN", "build/smlab")
try:
    import sentencepiece as spm
except ImportError:
    spm = None

with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    a_rows = ["happy days ahead", "sad rainy night", "what a lovely morning", "the night is long"]
    b_rows = ["lovely lovely weather", "what a sad morning", "happy days ahead", "lovely lovely weather", "a quiet day"]
    (d / "a.tsv").write_text("".join(f"{i}\tx\t{t}\n" for i, t in enumerate(a_rows)))
    (d / "a_val.tsv").write_text("0\tx\twhat a SAD morning!\n")
    (d / "b.tsv").write_text("".join(f"{i}\ty\t{t}\n" for i, t in enumerate(b_rows)))
    common = "version: 1\nmodel: {name: text_cnn}\n"
    (d / "a.yaml").write_text(common + f"experiment: {{name: task_a}}\ndata: {{name: text_tsv, train: {d}/a.tsv, "
                              f"val: {d}/a_val.tsv, tokenizer: auto}}\n")
    # B drops A's validation text (matched ignoring case and punctuation) and merges its duplicate.
    (d / "b.yaml").write_text(common + f"experiment: {{name: task_b}}\ndata: {{name: text_tsv, train: {d}/b.tsv, "
                              f"val_fraction: 0.0, exclude: [{d}/a_val.tsv], dedup: true, tokenizer: auto}}\n")
    out = subprocess.run([smlab, "tokenizer", "train", "--config", f"{d}/a.yaml,{d}/b.yaml", "--model-prefix",
                          str(d / "tok"), "--vocab-size", "30", "--texts-out", str(d / "texts.tsv")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1 removed as texts of" in out.stderr and "1 duplicate copies merged" in out.stderr, out.stderr
    rows = [line.split("\t") for line in (d / "texts.tsv").read_text().splitlines()]
    want_b = ["lovely lovely weather", "happy days ahead", "a quiet day"]
    assert [r[2] for r in rows] == a_rows + want_b, rows
    assert [r[1] for r in rows] == ["task_a"] * 4 + ["task_b"] * 3, rows
    assert [r[0] for r in rows] == [f"task_a:{i}" for i in range(4)] + [f"task_b:{i}" for i in range(3)], rows
    assert (d / "tok.model").exists() and (d / "tok.vocab").exists()
    if spm is not None:
        sp = spm.SentencePieceProcessor(model_file=str(d / "tok.model"))
        assert sp.get_piece_size() == 30
        # Both configs' words were seen: B's "weather" and A's "night" need no unknown piece.
        assert sp.unk_id() not in sp.encode("weather night")

    def fails(args, needle):
        r = subprocess.run([smlab, "tokenizer"] + args, capture_output=True, text=True)
        assert r.returncode != 0 and needle in r.stderr, (args, r.returncode, r.stderr)

    fails(["train", "--input", f"{d}/a.tsv", "--model-prefix", str(d / "t2"), "--texts-out", str(d / "x.tsv")],
          "--texts-out goes with train --config")
    fails(["train", "--config", f"{d}/a.yaml,,{d}/b.yaml", "--model-prefix", str(d / "t2")], "has an empty entry")
    fails(["train", "--config", f"{d}/a.yaml,{d}/missing.yaml", "--model-prefix", str(d / "t2")], "missing.yaml")
    assert not (d / "x.tsv").exists() and not (d / "t2.model").exists()
print("ok")
