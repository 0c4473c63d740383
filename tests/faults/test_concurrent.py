"""Concurrent writers on one run folder or output: the second writer is refused with a line naming the
lock (exit 2) while the first is at work, and the first finishes with the same result as if alone.
Covers train (run folder), score and merge (output), pack (folder) and sweep (folder)."""
import signal
import subprocess
import time
from pathlib import Path

import faults_common as fc


def while_first_runs(name, first, second, busy, expect):
    """Starts `first`, waits until `busy()` says it is at work, freezes it, runs `second` to completion, and checks
    that it was refused with a message containing `expect`; then lets `first` finish (exit 0)."""
    p = subprocess.Popen([fc.BIN] + [str(a) for a in first], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not busy() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p.poll() is None, "%s: the first writer finished before it was seen at work; make it longer" % name
    # Frozen mid-work (SIGSTOP), the first writer holds its lock for as long as the second one needs to
    # start, whatever the machine's speed; SIGCONT lets it finish.
    p.send_signal(signal.SIGSTOP)
    try:
        res = fc.smlab(second)
    finally:
        p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=600)
    fc.check_clean(fc.Result(p.returncode, out, err), name + " (first)")
    assert p.returncode == 0, "%s: the first writer failed: %s" % (name, err[-2000:])
    assert res.rc == 2, "%s: the second writer was not refused: %r" % (name, res)
    assert expect in res.err, "%s: %r" % (name, res.err)
    print("[faults] %s: second writer refused: %s" % (name, res.err.strip().splitlines()[-1]), flush=True)


def main():
    d = fc.workdir("concurrent")
    cfg = fc.write(d / "long.yaml", (fc.TINY_CONFIG % {"train": 8000, "epochs": 3}).replace("[32]", "[256, 256]"))
    run = d / "run"
    while_first_runs("train", ["train", cfg, "--run-dir", run], ["train", "--resume", run],
                     lambda: (run / "checkpoints" / "last.pt").exists(), "in use by another smlab process")

    _, model = fc.trained_artifact(d)
    inp = fc.feature_csv(d / "in.csv", 100000)
    out = d / "s" / "out.csv"
    # Small batches keep the first scorer busy for a few seconds, longer than the second one's start-up.
    score = ["score", "--model", model, "--input", inp, "--output", out, "--chunk-rows", "500", "--batch-size", "2",
             "--quiet", "--threads", "1"]
    while_first_runs("score", score, score, lambda: (d / "s" / "out.csv.parts").exists(),
                     "is being written by another smlab process")
    ref = out.read_bytes()
    for i in range(2):
        fc.ok(score[:5] + score[7:] + ["--output", d / "sh" / "out.csv", "--shard", "%d/2" % i])
    merge = ["score", "merge", "--output", d / "sh" / "out.csv"]
    first = subprocess.Popen([fc.BIN] + [str(a) for a in merge], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = fc.smlab(merge)
    first.wait()
    assert first.returncode == 0 or second.rc == 0, "neither merge finished"
    assert second.rc in (0, 2) and (second.rc == 0 or "being written by another" in second.err), repr(second)
    assert (d / "sh" / "out.csv").read_bytes() == ref, "merged output differs"

    tsv = fc.text_tsv(d / "tweets.tsv", 60000)
    pk = ["pack", tsv, d / "packed", "--kind", "text", "--shard-size", "500"]
    while_first_runs("pack", pk, pk, lambda: any((d / "packed").glob("shard-*.h5")) if (d / "packed").exists() else False,
                     "is being written by another smlab pack")

    fc.tiny_config(d, train=3000, epochs=3)
    fc.write(d / "grid.yaml", "base: tiny.yaml\nseeds: [0, 1]\noutput_dir: %s\ngrid:\n  optim.lr: [0.05, 0.2]\n"
             "metrics: [test.top1]\n" % (d / "sw"))
    while_first_runs("sweep", ["sweep", d / "grid.yaml"], ["sweep", d / "grid.yaml"],
                     lambda: (d / "sw" / "grid" / "p0-s0" / "config.yaml").exists(), "in use by another smlab sweep")
    for folder in (d / "s", d / "sh", d / "packed", d / "sw", run):
        assert not fc.leftovers(folder), fc.leftovers(folder)
    print("[faults] concurrent writers: every second writer refused, every first one finished")


if __name__ == "__main__":
    fc.require_binary()
    fc.announce("concurrent writers")
    main()
