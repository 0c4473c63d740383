"""`smlab eval`'s error analysis and `smlab calibrate`, checked against independent implementations.

A small 4-class classifier is trained on overlapping generated blobs, so that its confusion matrix has
off-diagonal mass. `smlab eval --predictions` writes every prediction (CSV) and the report (JSON);
from the predictions:
  * the per-class precision, recall, F1 and support and the confusion matrix equal scikit-learn's;
  * the reliability bins (15 equal-width bins of the max probability), ECE and NLL equal a direct
    numpy computation;
  * the "most confidently wrong" list is every wrong prediction with the highest confidences, in order.
Then a deliberately over-confident model (large learning rate, many epochs, heavily overlapping
classes) is calibrated: the fitted temperature is above 1, it lowers validation NLL, the NLL at T
equals a direct computation, and after `smlab export` the scorer's probabilities equal
softmax(logits / T) of the artifact's own logits (torch.jit.load).
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

try:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
except ImportError:
    print("SKIP: scikit-learn is not installed (scripts/install_deps.sh installs it)")
    sys.exit(77)

SMLAB = os.environ.get("SMLAB_BIN", "build/smlab")
CONFIG = """model: {name: mlp, hidden: [32]}
data: {name: synthetic_blobs, features: 6, classes: 4, spread: %(spread)s, train_size: 1200, val_size: 400,
       test_size: 600, batch_size: 32, workers: 0}
optim: {name: sgd, lr: %(lr)s}
train: {epochs: %(epochs)d, progress: none, tensorboard: false}
experiment: {device: cpu, threads: 1, seed: 11}
"""


def smlab(*args):
    p = subprocess.run([SMLAB] + [str(a) for a in args], capture_output=True, text=True)
    assert p.returncode == 0, "smlab %s: %s%s" % (args[0], p.stdout, p.stderr)
    return p.stdout


def train(d, name, **kw):
    cfg = d / (name + ".yaml")
    cfg.write_text(CONFIG % kw)
    smlab("train", cfg, "--run-dir", d / name)
    return d / name


def check_report(run):
    smlab("eval", run, "--predictions", "--top-wrong", "25")
    rep = json.loads((run / "eval_test_best.json").read_text())
    rows = np.genfromtxt(run / "eval_test_best.predictions.csv", delimiter=",", names=True)
    y, pred = rows["target"].astype(int), rows["predicted"].astype(int)
    probs = np.stack([rows["p_%d" % k] for k in range(4)], 1)
    conf = rows["confidence"]
    assert np.array_equal(pred, probs.argmax(1)) and np.allclose(conf, probs.max(1), atol=1e-9)
    cm = confusion_matrix(y, pred, labels=range(4))
    assert np.array_equal(np.array(rep["confusion"]), cm), (rep["confusion"], cm)
    assert cm.trace() < cm.sum(), "the test needs some errors"
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(4), zero_division=0)
    for k, row in enumerate(rep["per_class"]):
        assert row["support"] == s[k]
        for name, ref in (("precision", p[k]), ("recall", r[k]), ("f1", f[k])):
            assert abs(row[name] - ref) < 1e-12, (k, name, row[name], ref)
    assert abs(rep["macro_f1"] - f.mean()) < 1e-12
    # Reliability bins: [b/15, (b+1)/15), the last one closed; ECE and NLL. The CSV's 9 significant
    # digits bound the agreement.
    b = np.minimum((conf * 15).astype(int), 14)
    ece = 0.0
    for i, binrep in enumerate(rep["reliability"]):
        m = b == i
        assert binrep["count"] == m.sum(), (i, binrep["count"], m.sum())
        if m.any():
            assert abs(binrep["confidence"] - conf[m].mean()) < 1e-7
            assert abs(binrep["accuracy"] - (pred[m] == y[m]).mean()) < 1e-12
            ece += m.sum() / len(y) * abs((pred[m] == y[m]).mean() - conf[m].mean())
    assert abs(rep["ece"] - ece) < 1e-7, (rep["ece"], ece)
    nll = -np.log(probs[np.arange(len(y)), y]).mean()
    assert abs(rep["nll"] - nll) < 1e-6, (rep["nll"], nll)
    wrong = np.flatnonzero(pred != y)
    top = wrong[np.argsort(-conf[wrong], kind="stable")][:25]
    listed = [w["index"] for w in rep["most_confidently_wrong"]]
    assert len(listed) == min(25, len(wrong))
    assert np.allclose(conf[listed], conf[top], atol=1e-9), "not the most confident wrong predictions, in order"
    assert all(pred[i] != y[i] for i in listed)
    print("eval report: confusion, per-class P/R/F1 (sklearn), %d reliability bins, ECE %.4f, NLL %.4f: equal"
          % (len(rep["reliability"]), ece, nll))


def check_calibration(d):
    run = train(d, "overconfident", spread="3.0", lr="0.2", epochs=30)
    out = smlab("calibrate", run)
    cal = json.loads((run / "calibration.json").read_text())
    t, val = cal["temperature"], cal["splits"]["val"]
    assert t > 1, "an over-confident model should get T > 1, got %g" % t
    assert val["after"]["nll"] < val["before"]["nll"], val
    assert abs(val["after"]["top1"] - val["before"]["top1"]) < 1e-12, "a temperature cannot change top-1"
    # The NLL at T, recomputed from the val split's probabilities at T = 1: p_T = softmax(log p / T).
    smlab("eval", run, "--split", "val", "--predictions")
    rows = np.genfromtxt(run / "eval_val_best.predictions.csv", delimiter=",", names=True)
    logp = np.log(np.stack([rows["p_%d" % k] for k in range(4)], 1))
    z = logp / t
    z -= z.max(1, keepdims=True)
    nll_t = -(z[np.arange(len(z)), rows["target"].astype(int)] - np.log(np.exp(z).sum(1))).mean()
    assert abs(nll_t - val["after"]["nll"]) < 1e-5, (nll_t, val["after"]["nll"])
    smlab("export", run, "--output", d / "cal.pt", "--sample", "50")
    import torch
    art = torch.jit.load(str(d / "cal.pt"))
    sample = np.genfromtxt(str(d / "cal.pt") + ".sample.csv", delimiter=",", names=True, dtype=None, encoding=None)
    feats = np.stack([sample[n] for n in sample.dtype.names[1:]], 1).astype(np.float32)
    with torch.no_grad():
        logits = art(torch.from_numpy(feats)).double()
    expect = torch.softmax(logits / t, 1).numpy()
    smlab("score", "--model", d / "cal.pt", "--input", str(d / "cal.pt") + ".sample.csv", "--output", d / "s.csv", "--quiet")
    scored = np.genfromtxt(d / "s.csv", delimiter=",", names=True, dtype=None, encoding=None)
    got = np.stack([scored[n] for n in scored.dtype.names if n.startswith("p_")], 1)
    assert np.allclose(got, expect, atol=2e-6), np.abs(got - expect).max()
    plain = torch.softmax(logits, 1).numpy()
    assert np.abs(plain - expect).max() > 1e-3, "the temperature made no difference; the test cannot fail"
    print("calibration: T = %.4f, val NLL %.4f -> %.4f; scored probabilities = softmax(logits / T)"
          % (t, val["before"]["nll"], val["after"]["nll"]))
    print(out.strip())


if __name__ == "__main__":
    d = Path(tempfile.mkdtemp(prefix="smlab-eval-oracle-"))
    check_report(train(d, "blobs", spread="2.5", lr="0.05", epochs=3))
    check_calibration(d)
