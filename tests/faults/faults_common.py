"""Shared machinery of the fault-injection suite (ctest label `faults`, issue 22).

Every test drives the real `smlab` binary (SMLAB_BIN) on small generated inputs, injects a fault
(kill -9 at a random moment, a file-size limit, a read-only folder, a second writer) and checks
invariants afterwards: the rerun finishes with the same result as an undisturbed run, no temporary
or lock file is left, and nothing smlab printed is a raw library message or a trace.

Seeded: SMLAB_FAULTS_SEED (default 20261207) draws the kill moments; SMLAB_FAULTS_N (default 3) is
the number of kills per command. Both are printed, with every kill's moment, so a failure reruns.
Not a test itself (CTest runs tests/faults/test_*.py).
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = os.environ.get("SMLAB_BIN", "")
SEED = int(os.environ.get("SMLAB_FAULTS_SEED", "20261207"))
N = int(os.environ.get("SMLAB_FAULTS_N", "3"))
FORBIDDEN = ("what():", "terminate called", "enforce fail", "Exception raised from", "Segmentation fault",
             "core dumped", "AddressSanitizer", "runtime error:")
SKIP = 77

TINY_CONFIG = """model: {name: mlp, hidden: [32]}
data: {name: synthetic_blobs, features: 4, classes: 3, train_size: %(train)d, val_size: 200, test_size: 200,
       batch_size: 16, workers: 0}
optim: {name: sgd, lr: 0.05}
train: {epochs: %(epochs)d, checkpoint_every: 20, progress: none, tensorboard: false}
experiment: {device: cpu, threads: 1, seed: 3}
"""


def require_binary():
    if not BIN or not os.access(BIN, os.X_OK):
        print("SMLAB_BIN is not set to the smlab binary; run through ctest")
        sys.exit(SKIP)


def workdir(name):
    d = Path(tempfile.mkdtemp(prefix="smlab-faults-%s-" % name))
    os.chmod(d, 0o755)
    return d


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (self.rc, self.out[-3000:], self.err[-3000:])


def check_clean(res, what):
    """Nothing smlab printed is a raw library message, a trace or a sanitizer report."""
    for s in FORBIDDEN:
        assert s not in res.out and s not in res.err, "%s printed %r:\n%r" % (what, s, res)


def smlab(args, cwd=None, preexec=None, timeout=600, env=None):
    p = subprocess.run([BIN] + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       preexec_fn=preexec, env=env)
    res = Result(p.returncode, p.stdout, p.stderr)
    check_clean(res, "smlab " + " ".join(str(a) for a in args[:1]))
    return res


def ok(args, **kw):
    res = smlab(args, **kw)
    assert res.rc == 0, "smlab %s failed: %r" % (" ".join(map(str, args)), res)
    return res


def timed(args, **kw):
    t0 = time.monotonic()
    ok(args, **kw)
    return time.monotonic() - t0


def killed_at(args, delay, cwd=None):
    """Starts smlab ARGS and SIGKILLs it after `delay` seconds (unless it finished first). Returns the
    exit status (-9 when killed, else the status it ended with) and what it printed to stderr."""
    p = subprocess.Popen([BIN] + [str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
    out, err = p.communicate()
    check_clean(Result(p.returncode, out, err), "killed smlab " + str(args[0]))
    return p.returncode, err


def leftovers(root):
    """Temporary files of atomic writes (.<name>.tmp.<pid>.<n>) and lock files left under `root`."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for f in filenames:
            if re.match(r"^\..*\.tmp\.\d+\.\d+$", f) or f.endswith(".lock") and f != ".lock":
                bad.append(os.path.join(dirpath, f))
    return bad


def write(path, text):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return Path(path)


def tiny_config(d, train=600, epochs=2):
    return write(Path(d) / "tiny.yaml", TINY_CONFIG % {"train": train, "epochs": epochs})


def feature_csv(path, rows, seed=1):
    rng = random.Random(seed)
    lines = ["id,f0,f1,f2,f3"]
    for i in range(rows):
        lines.append("r%d,%s" % (i, ",".join("%.4f" % rng.uniform(-3, 3) for _ in range(4))))
    return write(path, "\n".join(lines) + "\n")


def text_tsv(path, rows, seed=2):
    rng = random.Random(seed)
    words = ["good", "bad", "fine", "awful", "great", "meh", "love", "hate", "ok", "wow"]
    lines = []
    for i in range(rows):
        label = ["negative", "neutral", "positive"][i % 3]
        lines.append("%d\t%s\t%s" % (i, label, " ".join(rng.choice(words) for _ in range(12))))
    return write(path, "\n".join(lines) + "\n")


def trained_artifact(d):
    """A tiny trained MLP run and its exported artifact: (run folder, artifact path)."""
    cfg = tiny_config(d)
    run = Path(d) / "ref-run"
    ok(["train", cfg, "--run-dir", run])
    ok(["export", run, "--output", Path(d) / "model.pt"])
    return run, Path(d) / "model.pt"


def rng_for(name):
    r = random.Random("%d-%s" % (SEED, name))
    return r


def announce(name):
    print("[faults] %s: seed %d, N = %d kills per command" % (name, SEED, N), flush=True)


def as_nobody():
    """preexec_fn dropping root to nobody (uid/gid 65534), so that permissions apply."""
    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    return drop if os.geteuid() == 0 else None


def summary(path):
    return json.loads(Path(path).read_text())
