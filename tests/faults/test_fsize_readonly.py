"""A file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored: writes fail with EFBIG, as on a full disk) at
every kind of output, and a read-only output folder (run as an unprivileged user when the suite runs as
root, since root ignores permissions). Each must end with exit status 2 and one line naming the file or
folder, nothing printed that is a raw library message or a trace, and no temporary file left; a limit
that is not reached must not change the result (exit 0)."""
import os
import resource
import shutil
import signal
from pathlib import Path

import faults_common as fc


def file_limit(nbytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return apply


def commands(d, model, run, inp, tsv):
    """(name, args, folder the outputs go to) for every kind of output smlab writes."""
    o = d / "o"
    return [
        ("train (checkpoint, metrics, summary)", ["train", d / "tiny.yaml", "--run-dir", o / "run"], o),
        ("pack (HDF5 shards, manifest)", ["pack", tsv, o / "packed", "--kind", "text", "--shard-size", "2000"], o),
        ("score csv", ["score", "--model", model, "--input", inp, "--output", o / "s.csv", "--quiet"], o),
        ("score jsonl", ["score", "--model", model, "--input", inp, "--output", o / "s.jsonl", "--quiet"], o),
        ("score hdf5", ["score", "--model", model, "--input", inp, "--output", o / "s.h5", "--quiet"], o),
        ("export (artifact)", ["export", run, "--output", o / "m.pt"], o),
        ("eval (metrics json)", ["eval", o / "evalrun"], o),
        ("score merge (merged csv)", ["score", "merge", "--output", o / "sh" / "m.csv"], o),
        ("sweep (runs, results.md/csv)", ["sweep", d / "grid.yaml"], o),
    ]


def fresh(d, run):
    shutil.rmtree(d / "o", ignore_errors=True)
    (d / "o").mkdir()
    shutil.copytree(run, d / "o" / "evalrun")  # eval writes into the run folder
    shutil.copytree(d / "shards", d / "o" / "sh")  # finished shard outputs for merge


def prepare(d, model, inp):
    """Finished shard outputs to merge, and a small sweep whose runs and tables go under o/."""
    for i in range(2):
        fc.ok(["score", "--model", model, "--input", inp, "--output", d / "shards" / "m.csv", "--shard", "%d/2" % i,
               "--quiet"])
    fc.tiny_config(d, train=300, epochs=1)
    fc.write(d / "grid.yaml", "base: tiny.yaml\nseeds: [0]\noutput_dir: %s\ngrid:\n  optim.lr: [0.05, 0.1]\n"
             "metrics: [test.top1]\n" % (d / "o"))


def test_file_size_limits(d, model, run, inp, tsv):
    limits = [100, 700, 8000, 90000, 1000000]
    for name, args, out in commands(d, model, run, inp, tsv):
        hit = 0
        for lim in limits:
            fresh(d, run)
            res = fc.smlab(args, preexec=file_limit(lim))
            if res.rc == 0:
                continue
            hit += 1
            assert res.rc == 2, "%s under a %d-byte limit: %r" % (name, lim, res)
            last = res.err.strip().splitlines()[-1]
            assert "File too large" in last or "No space" in last, "%s: %r" % (name, last)
            assert str(out) in last, "%s: the message names no output path: %r" % (name, last)
            assert not fc.leftovers(out), "%s left %s" % (name, fc.leftovers(out))
        print("[faults] %s: file-size limit reached under %d of %d limits, each one line, exit 2" % (name, hit, len(limits)),
              flush=True)
        assert hit > 0, "%s never reached any of the limits %s; the test is too small" % (name, limits)


def test_read_only_folder(d, model, run, inp, tsv):
    drop = fc.as_nobody()
    if drop:
        for p in (d, model.parent, run, inp.parent):
            os.chmod(p, 0o755)
        for root, dirs, files in os.walk(d):
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
            for x in dirs:
                os.chmod(os.path.join(root, x), 0o755)
    for name, args, out in commands(d, model, run, inp, tsv):
        fresh(d, run)
        for root, dirs, files in os.walk(out):
            for x in dirs:
                os.chmod(os.path.join(root, x), 0o555)
        os.chmod(out, 0o555)
        env = dict(os.environ, HOME=str(d))
        res = fc.smlab(args, preexec=drop, env=env)
        os.chmod(out, 0o755)
        if os.geteuid() == 0 and not drop:
            continue
        assert res.rc == 2, "%s into a read-only folder: %r" % (name, res)
        last = res.err.strip().splitlines()[-1]
        assert "Permission denied" in last or "Read-only" in last, "%s: %r" % (name, last)
        assert str(out) in last, "%s: the message names no path: %r" % (name, last)
        print("[faults] %s: read-only folder -> one line, exit 2" % name, flush=True)


if __name__ == "__main__":
    fc.require_binary()
    fc.announce("file-size limits and read-only folders")
    d = fc.workdir("fsize")
    run, model = fc.trained_artifact(d)
    inp = fc.feature_csv(d / "in.csv", 5000)
    tsv = fc.text_tsv(d / "tweets.tsv", 6000)
    prepare(d, model, inp)
    test_file_size_limits(d, model, run, inp, tsv)
    test_read_only_folder(d, model, run, inp, tsv)
    print("[faults] file-size limits and read-only folders: all held")
