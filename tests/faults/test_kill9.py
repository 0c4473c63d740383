"""kill -9 at N seeded random moments of train, sweep, pack, score, merge and export; each followed by a
rerun of the same command. Invariants: the result equals an undisturbed run's (training: the same
weights, validation records and test metrics; scoring and merging: the same bytes; packing: the same
records; export: an artifact that scores the same), every validation record exactly once, and no
temporary or lock file left behind. The moments are drawn over the undisturbed run's duration."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import faults_common as fc


def notes(err):
    """What the resumed process said it repaired (dropped records), for the log."""
    return "".join("; " + l.strip() for l in err.splitlines() if "dropped" in l)


def kill_then_finish(name, args_for, t_ref, rng):
    for k in range(fc.N):
        delay = rng.uniform(0.02, t_ref)
        rc, err = fc.killed_at(args_for(), delay)
        print("[faults] %s: kill %d/%d at %.2fs -> %s%s" % (name, k + 1, fc.N, delay,
                                                            "killed" if rc == -9 else "finished first (exit %d)" % rc,
                                                            notes(err)), flush=True)
        assert rc in (-9, 0), "%s ended with %d before the kill" % (name, rc)
    res = fc.ok(args_for())
    print("[faults] %s: rerun finished%s" % (name, notes(res.err)), flush=True)


def records(run):
    return [json.loads(l) for l in (Path(run) / "metrics.jsonl").read_text().splitlines() if l.strip()]


def val_records(run):
    return [r for r in records(run) if r.get("split") == "val"]


def weights(run, ckpt):
    import torch
    m = torch.jit.load(str(Path(run) / "checkpoints" / ckpt), map_location="cpu")
    return {k: v for k, v in m.state_dict().items() if k.startswith("model.")}


def test_train(d):
    rng = fc.rng_for("train")
    # Evaluations every 30 steps and train records every 10, checkpoints every 70: kills land between them.
    cfg = fc.write(d / "long.yaml", (fc.TINY_CONFIG % {"train": 6000, "epochs": 3}).replace("[32]", "[256, 256]")
                   .replace("checkpoint_every: 20", "checkpoint_every: 70, eval_every_steps: 30, log_every: 10"))
    ref = d / "ref"
    t_ref = fc.timed(["train", cfg, "--run-dir", ref])
    run = d / "killed"

    def args():
        return ["train", "--resume", run] if (run / "config.yaml").exists() else ["train", cfg, "--run-dir", run]

    kill_then_finish("train", args, t_ref, rng)
    a, b = fc.summary(ref / "summary.json"), fc.summary(run / "summary.json")
    for key in ("status", "steps", "epochs", "best", "val", "test"):
        assert a[key] == b[key], "train: summary %s differs: %s vs %s" % (key, a[key], b[key])
    va, vb = val_records(ref), val_records(run)
    for split in ("train", "val", "test"):
        steps = [r["step"] for r in records(run) if r.get("split") == split]
        assert steps == sorted(set(steps)), "a %s record was logged twice: %s" % (split, steps)
    assert records(ref) and len(records(ref)) == len(records(run)), "metrics.jsonl lost or gained records"
    assert va == vb, "validation records differ"
    for ck in ("last.pt", "best.pt"):
        wa, wb = weights(ref, ck), weights(run, ck)
        assert wa.keys() == wb.keys() and all(bool((wa[k] == wb[k]).all()) for k in wa), ck + ": weights differ"
    assert not fc.leftovers(run), fc.leftovers(run)


def test_sweep(d):
    rng = fc.rng_for("sweep")
    fc.tiny_config(d, train=2000, epochs=2)
    grid = "base: tiny.yaml\nseeds: [0, 1]\noutput_dir: %s\ngrid:\n  optim.lr: [0.05, 0.2]\nmetrics: [test.top1, val.loss]\n"
    fc.write(d / "ref.yaml", grid % (d / "ref-out"))
    fc.write(d / "sweep.yaml", grid % (d / "out"))
    t_ref = fc.timed(["sweep", d / "ref.yaml"])
    kill_then_finish("sweep", lambda: ["sweep", d / "sweep.yaml"], t_ref, rng)

    def table(p):  # without the timing and run-folder columns
        rows = [l.split(",") for l in Path(p).read_text().splitlines()]
        return [r[:-2] for r in rows]

    assert table(d / "ref-out/ref/results.csv") == table(d / "out/sweep/results.csv"), "sweep tables differ"
    assert not fc.leftovers(d / "out"), fc.leftovers(d / "out")


def processes_mentioning(text):
    """pids of live (not zombie) processes whose command line contains `text`."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path("/proc/%s/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path("/proc/%s/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            out.append(int(pid))
    return out


def test_sweep_jobs(d):
    """kill -9 of a `--jobs 2` sweep: its `smlab train` children must end with it (SIGTERM, checkpoint)
    instead of training on and holding their run folders' locks; the rerun gives the same table."""
    rng = fc.rng_for("sweep_jobs")
    # Runs of several seconds each, so that the children are still training when the sweep is killed
    # and when the check looks for them (a tiny run would end by itself and hide the orphans).
    fc.write(d / "tiny.yaml", (fc.TINY_CONFIG % {"train": 40000, "epochs": 2}).replace("[32]", "[256, 256]"))
    grid = "base: tiny.yaml\nseeds: [0, 1]\noutput_dir: %s\ngrid:\n  optim.lr: [0.05, 0.2]\nmetrics: [test.top1, val.loss]\n"
    fc.write(d / "ref.yaml", grid % (d / "ref-out"))
    fc.write(d / "jobs.yaml", grid % (d / "jobs-out"))
    t_ref = fc.timed(["sweep", d / "ref.yaml"])
    print("[faults] sweep --jobs 2: the undisturbed sequential sweep took %.1fs" % t_ref, flush=True)
    marker = str(d / "jobs-out")
    orphans_seen = 0
    for k in range(fc.N):
        # Kill once the children train (a random moment of the first half of the sweep after that).
        p = subprocess.Popen([fc.BIN, "sweep", str(d / "jobs.yaml"), "--jobs", "2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        start = time.monotonic()
        while not processes_mentioning(marker) and p.poll() is None and time.monotonic() - start < 60:
            time.sleep(0.05)
        delay = rng.uniform(0.1, t_ref / 16)  # early in the first runs (each takes about t_ref / 4)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
        out, err = p.communicate()
        fc.check_clean(fc.Result(p.returncode, out, err), "killed smlab sweep --jobs 2")
        rc = p.returncode
        deadline = time.monotonic() + 2  # SIGTERM: a checkpoint and exit, well under a second here
        while processes_mentioning(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = processes_mentioning(marker)
        print("[faults] sweep --jobs 2: kill %d/%d %.2fs after its children started -> %s; children alive after it: %d"
              % (k + 1, fc.N, delay, "killed" if rc == -9 else "finished first (exit %d)" % rc, len(left)), flush=True)
        orphans_seen += len(left)
        for pid in left:  # do not let a failure here disturb the rest of the suite
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        assert not left, "a killed sweep left %d smlab train children running" % len(left)
    fc.ok(["sweep", d / "jobs.yaml", "--jobs", "2"])

    def table(p):
        return [r.split(",")[:-2] for r in Path(p).read_text().splitlines()]

    assert table(d / "ref-out/ref/results.csv") == table(d / "jobs-out/jobs/results.csv"), "sweep --jobs tables differ"
    assert not fc.leftovers(d / "jobs-out"), fc.leftovers(d / "jobs-out")


def test_pack(d):
    rng = fc.rng_for("pack")
    tsv = fc.text_tsv(d / "tweets.tsv", 40000)
    t_ref = fc.timed(["pack", tsv, d / "ref", "--kind", "text", "--shard-size", "1000"])
    kill_then_finish("pack", lambda: ["pack", tsv, d / "packed", "--kind", "text", "--shard-size", "1000"], t_ref, rng)
    a, b = fc.summary(d / "ref/manifest.json"), fc.summary(d / "packed/manifest.json")
    for key in ("classes", "count", "labels", "sources", "skipped_count"):
        assert a[key] == b[key], "pack: manifest %s differs" % key
    assert [s["count"] for s in a["shards"]] == [s["count"] for s in b["shards"]], "pack: shard counts differ"
    shards = sorted(p.name for p in (d / "packed").glob("shard-*.h5"))
    assert shards == [s["file"] for s in b["shards"]], "stray or missing shard files: %s" % shards
    import zlib
    for s in b["shards"]:
        crc = zlib.crc32((d / "packed" / s["file"]).read_bytes()) & 0xFFFFFFFF
        assert int(str(s["crc32"]), 16) == crc, "%s does not match its manifest CRC" % s["file"]
    assert not fc.leftovers(d / "packed"), fc.leftovers(d / "packed")


def test_score_and_merge(d):
    rng = fc.rng_for("score")
    _, model = fc.trained_artifact(d)
    inp = fc.feature_csv(d / "in.csv", 60000)
    common = ["--model", model, "--input", inp, "--chunk-rows", "1000", "--quiet", "--threads", "1"]
    t_ref = fc.timed(["score"] + common + ["--output", d / "ref.csv"])
    kill_then_finish("score", lambda: ["score"] + common + ["--output", d / "out/killed.csv"], t_ref, rng)
    assert (d / "ref.csv").read_bytes() == (d / "out/killed.csv").read_bytes(), "scores differ after kills"
    assert (d / "ref.csv.rejects.csv").read_bytes() == (d / "out/killed.csv.rejects.csv").read_bytes()
    # Shards, then a merge killed at random moments.
    for i in range(2):
        fc.ok(["score"] + common + ["--output", d / "sh/out.csv", "--shard", "%d/2" % i])
    shutil.copytree(d / "sh", d / "sh-ref")
    t_merge = fc.timed(["score", "merge", "--output", d / "sh-ref/out.csv"])
    kill_then_finish("merge", lambda: ["score", "merge", "--output", d / "sh/out.csv"], t_merge, rng)
    assert (d / "ref.csv").read_bytes() == (d / "sh/out.csv").read_bytes(), "merged shards differ from unsharded"
    for folder in (d / "out", d / "sh"):
        assert not fc.leftovers(folder), fc.leftovers(folder)


def test_export(d):
    rng = fc.rng_for("export")
    run, model = fc.trained_artifact(d)
    inp = fc.feature_csv(d / "in.csv", 200)
    t_ref = fc.timed(["export", run, "--output", d / "again.pt"])
    kill_then_finish("export", lambda: ["export", run, "--output", d / "out/killed.pt"], t_ref, rng)
    for m, out in ((model, d / "a.csv"), (d / "out/killed.pt", d / "b.csv")):
        fc.ok(["score", "--model", m, "--input", inp, "--output", out, "--quiet"])
    assert (d / "a.csv").read_bytes() == (d / "b.csv").read_bytes(), "the re-exported artifact scores differently"
    assert not fc.leftovers(d / "out"), fc.leftovers(d / "out")


if __name__ == "__main__":
    fc.require_binary()
    fc.announce("kill -9")
    only = sys.argv[1:]
    for t in (test_train, test_sweep, test_sweep_jobs, test_pack, test_score_and_merge, test_export):
        if only and t.__name__ not in only:
            continue
        print("[faults] %s" % t.__name__, flush=True)
        t(fc.workdir(t.__name__))
    print("[faults] kill -9: all invariants held (N = %d per command, seed %d)" % (fc.N, fc.SEED))
