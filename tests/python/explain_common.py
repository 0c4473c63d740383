"""Shared machinery of the explain tests (test_explain_captum.py, test_explain_axioms.py).

Reference models in PyTorch with smlab's parameter names: torchvision's resnet18 and r3d_18 (smlab's
image and video ResNets keep torchvision's names), and TextCNN and BiLSTM written here from the
C++ code's formulas (models/text_cnn.cpp, models/bilstm.cpp), independently of it. Each reference
gets seeded random weights (parity_common.randomize), which are saved as a TorchScript weights
carrier and imported strictly by tests/tools/explain_probe.cpp into the smlab model built by name;
the probe then runs smlab's attribution method (analysis/explain.h) and writes the scores.

Not a test itself (CTest runs tests/python/test_*.py).
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import parity_common

PROBE = os.environ.get("SMLAB_EXPLAIN_PROBE", "")


class TokenEmbedding(nn.Module):
    """smlab's TokenEmbedding without n-grams: row 0 is the padding row (zero, no gradient)."""

    def __init__(self, vocab, dim):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)

    def forward(self, ids):
        return self.embedding(ids)


class TextCNN(nn.Module):
    """Kim 2014 as in models/text_cnn.cpp: convolutions padded by k-1, ReLU, max over the outputs
    that cover at least one real token (others set to 0), concatenated, linear."""

    def __init__(self, vocab, embed, kernels, filters, classes):
        super().__init__()
        self.kernels = kernels
        self.embedding = TokenEmbedding(vocab, embed)
        self.convs = nn.ModuleList(nn.Conv1d(embed, filters, k, padding=k - 1) for k in kernels)
        self.fc = nn.Linear(filters * len(kernels), classes)

    def forward(self, ids):
        mask = ids != 0
        e = self.embedding(ids).transpose(1, 2)
        m = mask.unsqueeze(1).to(e.dtype)
        pooled = []
        for k, conv in zip(self.kernels, self.convs):
            h = torch.relu(conv(e))
            valid = F.max_pool1d(F.pad(m, (k - 1, k - 1)), k, stride=1)
            pooled.append(h.masked_fill(valid == 0, 0.0).amax(2))
        return self.fc(torch.cat(pooled, 1))


class AttentionPool(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, h, mask):
        s = self.score(torch.tanh(self.proj(h))).squeeze(-1).masked_fill(~mask, -1e4)
        w = torch.softmax(s, 1) * mask.float()
        return (h * w.unsqueeze(-1)).sum(1)


class BiLSTM(nn.Module):
    """models/bilstm.cpp with one layer: a forward LSTM over the padded rows, a backward LSTM over
    the real tokens reversed in place (padding left where it is), max (masked) or attention pooling."""

    def __init__(self, vocab, embed, hidden, classes, pooling="max", attention_dim=8):
        super().__init__()
        self.pooling = pooling
        self.embedding = TokenEmbedding(vocab, embed)
        self.fwd = nn.ModuleList([nn.LSTM(embed, hidden, batch_first=True)])
        self.bwd = nn.ModuleList([nn.LSTM(embed, hidden, batch_first=True)])
        if pooling == "attention":
            self.attention = AttentionPool(2 * hidden, attention_dim)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, ids):
        mask = ids != 0
        pos = torch.ones_like(ids).cumsum(1) - 1
        length = mask.sum(1, keepdim=True)
        rev = torch.where(pos < length, length - 1 - pos, pos)
        h = self.embedding(ids)
        idx = rev.unsqueeze(-1).expand_as(h)
        f = self.fwd[0](h)[0]
        b = self.bwd[0](h.gather(1, idx))[0]
        h = torch.cat([f, b.gather(1, rev.unsqueeze(-1).expand_as(b))], 2)
        if self.pooling == "attention":
            pooled = self.attention(h, mask)
        else:
            pooled = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return self.fc(pooled)


def randomize_all(model, seed):
    """Seeded N(0, 0.3^2) weights for the text references (LSTM and embeddings included), with the
    padding row kept at zero; BatchNorm statistics as parity_common.randomize."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for m in model.modules():
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                m.weight[m.padding_idx].zero_()
    return parity_common.randomize(model, seed)


def token_ids(rows, length, vocab, seed):
    """int64 [len(rows), length]: row i has rows[i] real ids in [1, vocab), then padding 0."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    for i, n in enumerate(rows):
        ids[i, :n] = torch.randint(1, vocab, (n,), generator=g)
    return ids


class Probe:
    """Runs jobs through one smlab_explain_probe process. A job: dict with the probe's keys
    (see tests/tools/explain_probe.cpp); `ref` (the reference, saved as weights; None keeps the smlab
    model's own initialisation) and `x` (input tensor) are converted here. Returns per job (scores tensor, answer dict)."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="smlab_explain_")

    def run(self, jobs):
        tmp = self._tmp.name
        out, saved = [], {}
        for i, job in enumerate(jobs):
            job = dict(job)
            ref, x = job.pop("ref"), job.pop("x")
            if ref is None:  # the smlab model's own seeded initialisation
                saved[id(ref)] = ""
            elif id(ref) not in saved:
                path = os.path.join(tmp, f"w{len(saved)}.pt")
                torch.jit.script(parity_common.weights_carrier(ref)).save(path)
                saved[id(ref)] = path
            job["weights"] = saved[id(ref)]
            job["input"] = os.path.join(tmp, f"{i}.in.bin")
            job["out"] = os.path.join(tmp, f"{i}.out.bin")
            job["shape"] = list(x.shape)
            job["dtype"] = "int64" if x.dtype == torch.long else "float32"
            x.contiguous().numpy().astype("<i8" if x.dtype == torch.long else "<f4").tofile(job["input"])
            out.append(job)
        manifest = os.path.join(tmp, "jobs.json")
        with open(manifest, "w") as f:
            json.dump(out, f)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        proc = subprocess.run([PROBE, manifest], capture_output=True, text=True, timeout=900, env=env)
        answers = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
        if len(answers) != len(out):
            raise AssertionError(f"probe answered {len(answers)} of {len(out)} jobs (rc {proc.returncode})\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        results = []
        for job, ans in zip(out, answers):
            if "error" in ans:
                results.append((None, ans))
                continue
            a = torch.from_numpy(np.fromfile(job["out"], dtype="<f4")).reshape(ans["shape"])
            results.append((a, ans))
        return results

    def cleanup(self):
        self._tmp.cleanup()


def rel_error(got, want):
    """max |got - want| / max |want|: the oracle tests' measure."""
    scale = want.abs().max().item()
    assert scale > 0, "reference attributions are all zero"
    return (got - want).abs().max().item() / scale
