"""`smlab export --format pt2|onnx` (issue 18): every exported .pt2 (AOTInductor) and ONNX model gives
the TorchScript artifact's outputs within 1e-4 (fp32, CPU) at two batch sizes and, for token models,
two lengths, and carries the artifact's smlab.json.

tests/tools/export_probe.cpp writes the TorchScript artifacts (random weights, each family's example
input); tools/export_pt2.py (what `smlab export --format pt2|onnx` runs) converts them. The .pt2 is
loaded with torch._inductor.aoti_load_package, the ONNX model with onnxruntime. Where the artifact has
forward_embed, both outputs (predictions and embeddings) are compared.

AOTInductor compiles a C++ library per model: tens of seconds each on an idle CPU, minutes on a
loaded one. CI therefore checks a bounded set (SMLAB_EXPORT_PT2 / SMLAB_EXPORT_ONNX, comma-separated
model names, override it); `SMLAB_EXPORT_FULL=1` sweeps every family of docs/deployment.md.
A family the export refuses must be listed in REFUSED with the reason, and the refusal message is
checked: nothing is skipped silently.

Exit 77 (skipped) when SMLAB_EXPORT_PROBE is unset or torch/onnxruntime are missing, 1 on failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

PROBE = os.environ.get("SMLAB_EXPORT_PROBE", "")
SOURCE = os.environ.get("SMLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE, "tools", "export_pt2.py")
try:
    import numpy as np
    import torch
    import onnx
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e} (scripts/install_deps.sh installs onnx, onnxruntime, onnxscript)")
    sys.exit(77)

# One model per family of docs/deployment.md: image CNN, CIFAR ResNet, video 3D CNN, TextCNN, BiLSTM,
# transformer_text, MLP, forecaster.
FULL = ["small_cnn", "resnet20", "r3d_18", "text_cnn", "bilstm", "transformer_text", "mlp", "lstm_forecaster"]
CI_PT2 = ["mlp", "text_cnn"]
CI_ONNX = ["mlp", "text_cnn", "bilstm", "resnet20"]
REFUSED = {}  # model -> the reason its export is refused (none today)
TOL = 1e-4


def env_list(name, default):
    if os.environ.get("SMLAB_EXPORT_FULL") == "1":
        return FULL
    v = os.environ.get(name)
    return [m for m in v.split(",") if m] if v is not None else default


def raw_input(meta, batch, length=None, seed=0):
    spec = meta["input"]
    g = torch.Generator().manual_seed(seed)
    shape = [batch] + list(spec["shape"])
    if spec["dtype"] == "uint8":
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    if spec["dtype"] == "int64":
        tok = spec["tokens"]
        x = torch.randint(1, max(2, tok["vocab_size"]), shape, generator=g)
        for i in range(batch):  # ragged rows, padded with pad_id as smlab score pads them
            x[i, max(1, (length or shape[1]) - i):] = tok["pad_id"]
        return x[:, :length] if length else x
    return torch.randn(shape, generator=g)


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def cases(meta, package):
    """(batch, length) pairs: two batch sizes; token models also two lengths."""
    if meta["input"]["dtype"] != "int64":
        return [(1, None), (5, None)]
    full = meta["input"]["shape"][0]
    if package.get("variable_length"):
        short = max(package.get("min_length", 1), full // 2)
        return [(1, full), (5, full), (2, short), (5, short)]
    return [(1, full), (5, full)]  # fixed length: smlab pads every batch to it


def export(artifact, fmt, out):
    t0 = time.time()
    p = subprocess.run([sys.executable, SCRIPT, "--artifact", artifact, "--format", fmt, "--output", out],
                       capture_output=True, text=True)
    return p, time.time() - t0


def check_model(name, rec, fmt, d, failures):
    ts_extra = {"smlab.json": ""}
    ts = torch.jit.load(rec["artifact"], _extra_files=ts_extra)
    meta = json.loads(ts_extra["smlab.json"])
    out = os.path.join(d, f"{name}.{fmt}")
    p, secs = export(rec["artifact"], fmt, out)
    if name in REFUSED:
        if p.returncode != 2 or REFUSED[name] not in p.stderr:
            failures.append(f"{name} {fmt}: expected the refusal '{REFUSED[name]}', got rc {p.returncode}: {p.stderr[-300:]}")
        return
    if p.returncode != 0:
        failures.append(f"{name} {fmt}: export failed (rc {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
        return
    if fmt == "pt2":
        runner = torch._inductor.aoti_load_package(out)
        md = runner.get_metadata()
        run = lambda x: [t.numpy() for t in (lambda r: r if isinstance(r, (list, tuple)) else [r])(runner(x))]  # noqa: E731
    else:
        model = onnx.load(out)
        md = {p.key: p.value for p in model.metadata_props}
        sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
        run = lambda x: sess.run(None, {"x": x.numpy()})  # noqa: E731
    package = json.loads(md["smlab.package"])
    carried = json.loads(md["smlab.json"])
    carried.get("input", {}).get("tokens", {}).pop("variable_length", None)
    want_meta = json.loads(json.dumps(meta))
    want_meta.get("input", {}).get("tokens", {}).pop("variable_length", None)
    if carried != want_meta:
        failures.append(f"{name} {fmt}: smlab.json differs from the artifact's")
    worst = 0.0
    for batch, length in cases(meta, package):
        x = raw_input(meta, batch, length, seed=batch)
        with torch.no_grad():
            want = ts.forward_embed(x) if package["method"] == "forward_embed" else (ts(x),)
        got = run(x)
        if len(got) != len(want):
            failures.append(f"{name} {fmt}: {len(got)} outputs, the artifact gives {len(want)}")
            continue
        for g, w in zip(got, want):
            worst = max(worst, rel(g, w.numpy()))
    print(f"{name} {fmt}: relative error {worst:.2e} over {cases(meta, package)}; export {secs:.0f} s; "
          f"length {'dynamic from ' + str(package['min_length']) if package.get('variable_length') else 'fixed'}", flush=True)
    if not worst <= TOL:
        failures.append(f"{name} {fmt}: relative error {worst:.3e} > {TOL}")


def check_refusals(d, failures):
    """A file that is not an smlab artifact is refused with one line naming it (exit status 2)."""
    plain = os.path.join(d, "plain.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), plain)
    for path, want in [(plain, "without smlab metadata"), (os.path.join(d, "missing.pt"), "not a TorchScript artifact")]:
        p, _ = export(path, "pt2", os.path.join(d, "x.pt2"))
        if p.returncode != 2 or want not in p.stderr or path not in p.stderr:
            failures.append(f"refusal of {path}: rc {p.returncode}, stderr {p.stderr.strip()[-200:]}")


def main():
    if not PROBE:
        print("skipping: SMLAB_EXPORT_PROBE is not set")
        return 77
    pt2, onx = env_list("SMLAB_EXPORT_PT2", CI_PT2), env_list("SMLAB_EXPORT_ONNX", CI_ONNX)
    names = sorted(set(pt2) | set(onx))
    failures = []
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.run([PROBE, d] + names, capture_output=True, text=True)
        recs = {r["model"]: r for r in (json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{"))}
        if proc.returncode != 0 or set(recs) != set(names):
            print(proc.stdout, proc.stderr)
            return 1
        check_refusals(d, failures)
        for fmt, models in (("onnx", onx), ("pt2", pt2)):
            for name in models:
                try:
                    check_model(name, recs[name], fmt, d, failures)
                except Exception as e:  # noqa: BLE001 (one model's failure must not hide the others')
                    failures.append(f"{name} {fmt}: {type(e).__name__}: {str(e).strip().splitlines()[:1]}")
    for f in failures:
        print("FAIL", f)
    print(f"checked pt2 {pt2}, onnx {onx}" + ("" if os.environ.get("SMLAB_EXPORT_FULL") == "1" else
                                            f" (SMLAB_EXPORT_FULL=1 checks every family: {FULL})"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
