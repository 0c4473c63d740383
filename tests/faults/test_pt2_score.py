"""`smlab score --model X.pt2` (issue 18): an AOTInductor package scores like its TorchScript artifact
and survives kill -9 like it; bad packages are refused with one line.

  1. A tiny trained MLP run is exported with --format pt2 (model.pt and model.pt2; one AOTInductor
     compile, tens of seconds on an idle CPU).
  2. Scores of 60,000 rows from both agree row for row (same ids, same labels, probabilities within
     1e-4), and --embeddings works from the package.
  3. The .pt2 scoring job killed at N seeded moments and rerun ends byte-identical to an undisturbed
     .pt2 job (every row exactly once), with no temporary or lock file left.
  4. A truncated and a bit-flipped package fail with a message naming the file; a package whose
     smlab.json or smlab.package is from a newer smlab is refused; a package compiled for CUDA
     (its metadata says so) fails on a CPU-only run with a plain message. No trace, exit status 2.

Label faults (tests/CMakeLists.txt); exits 77 without SMLAB_BIN or torch's Python for the export.
"""
import csv
import json
import shutil
import sys
import zipfile
from pathlib import Path

import faults_common as fc
from test_kill9 import kill_then_finish


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def agree(a, b, what):
    ra, rb = rows(a), rows(b)
    assert len(ra) == len(rb), "%s: %d rows vs %d" % (what, len(ra), len(rb))
    worst = 0.0
    for x, y in zip(ra, rb):
        assert x["id"] == y["id"], "%s: ids differ: %s vs %s" % (what, x["id"], y["id"])
        for k, v in x.items():
            if k.startswith("p_") or k in ("confidence",) or k.startswith("e_"):
                worst = max(worst, abs(float(v) - float(y[k])))
        assert x["label"] == y["label"] or abs(float(x["confidence"]) - float(y["confidence"])) < 1e-4, \
            "%s: labels differ at %s" % (what, x["id"])
    assert worst <= 1e-4, "%s: probabilities differ by %g" % (what, worst)
    return len(ra), worst


def forged(src, dst, edit):
    """A copy of the package with its AOTInductor metadata edited by edit(dict)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("_metadata.json"):
                md = json.loads(data)
                edit(md)
                data = json.dumps(md).encode()
            zout.writestr(info.filename, data)
    return dst


def refused(model, inp, out, *needles):
    res = fc.smlab(["score", "--model", model, "--input", inp, "--output", out, "--quiet"])
    assert res.rc == 2, "score %s: rc %d, want 2: %r" % (model, res.rc, res)
    line = res.err.strip().splitlines()[-1]
    for n in needles:
        assert str(n) in line, "score %s: %r does not say %r" % (model, line, n)
    print("[faults] pt2: refused %s: %s" % (Path(model).name, line), flush=True)


def set_json(key, path, value):
    def edit(md):
        j = json.loads(md[key])
        j[path] = value
        md[key] = json.dumps(j)
    return edit


def main():
    fc.require_binary()
    d = fc.workdir("pt2_score")
    fc.announce("pt2 score")
    run = d / "run"
    fc.ok(["train", fc.tiny_config(d), "--run-dir", run])
    res = fc.smlab(["export", run, "--output", d / "model.pt", "--format", "pt2"], timeout=1800)
    if res.rc != 0 and "needs torch's Python" in res.err:
        print("skipping: " + res.err.strip())
        return fc.SKIP
    assert res.rc == 0, res
    print("[faults] pt2: " + res.out.strip().splitlines()[-1], flush=True)
    pt, pt2 = d / "model.pt", d / "model.pt2"
    inp = fc.feature_csv(d / "in.csv", 60000)
    common = ["--input", inp, "--chunk-rows", "1000", "--quiet", "--threads", "1"]
    fc.ok(["score", "--model", pt] + common + ["--output", d / "ts.csv"])
    t_ref = fc.timed(["score", "--model", pt2] + common + ["--output", d / "pt2.csv"])
    n, worst = agree(d / "ts.csv", d / "pt2.csv", "torchscript vs pt2")
    print("[faults] pt2: %d rows agree with TorchScript (max |dp| %.1e)" % (n, worst), flush=True)
    small = fc.feature_csv(d / "small.csv", 300)
    for m, out in ((pt, d / "ts-emb.csv"), (pt2, d / "pt2-emb.csv")):
        fc.ok(["score", "--model", m, "--input", small, "--output", out, "--embeddings", "--quiet"])
    agree(d / "ts-emb.csv", d / "pt2-emb.csv", "embeddings")
    rng = fc.rng_for("pt2-score")
    kill_then_finish("score pt2", lambda: ["score", "--model", pt2] + common + ["--output", d / "out/killed.csv"], t_ref,
                     rng)
    assert (d / "pt2.csv").read_bytes() == (d / "out/killed.csv").read_bytes(), "pt2 scores differ after kills"
    assert not fc.leftovers(d / "out"), fc.leftovers(d / "out")
    # Bad packages.
    data = pt2.read_bytes()
    bad = d / "bad"
    bad.mkdir()
    (bad / "truncated.pt2").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x40
    (bad / "flipped.pt2").write_bytes(bytes(flipped))
    refused(bad / "truncated.pt2", small, bad / "a.csv", "truncated.pt2")
    refused(bad / "flipped.pt2", small, bad / "b.csv", "flipped.pt2", "corrupt")
    refused(forged(pt2, bad / "newer.pt2", set_json("smlab.json", "format", 99)), small, bad / "c.csv", "newer.pt2",
            "upgrade smlab")
    refused(forged(pt2, bad / "newer_pkg.pt2", set_json("smlab.package", "format", 99)), small, bad / "d.csv",
            "newer_pkg.pt2", "upgrade smlab")
    refused(forged(pt2, bad / "cuda.pt2", set_json("smlab.package", "device", "cuda")), small, bad / "e.csv",
            "cuda.pt2", "compiled for cuda")
    print("[faults] pt2 score: all invariants held")
    shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
