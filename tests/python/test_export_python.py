"""TorchScript artifacts written by smlab load in Python (torch.jit.load, torch 2.11) and give
the C++ model's outputs within 1e-5 relative error.

tests/tools/export_probe.cpp exports every registered model of at most 30M parameters (the
larger ones are covered by the C++ export test), with the raw input and the C++ model's output.
Here each artifact is loaded with torch.jit.load, its smlab.json metadata is read through
_extra_files, it is run on the same input, and the result is compared. ResNet-18's artifact
must also carry exactly torchvision's state_dict keys and shapes.

Run by CTest with SMLAB_EXPORT_PROBE set; exits 77 (skipped) when it is unset or torch is
missing, 1 on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile

PROBE = os.environ.get("SMLAB_EXPORT_PROBE", "")
try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

DTYPES = {"Byte": np.uint8, "Long": np.int64, "Float": np.float32}


def main():
    if not PROBE:
        print("skipping: SMLAB_EXPORT_PROBE is not set")
        return 77
    failures, checked = [], 0
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.run([PROBE, d], capture_output=True, text=True)
        lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
        if proc.returncode != 0 or not lines:
            print(proc.stdout, proc.stderr)
            return 1
        for rec in lines:
            name = rec["model"]
            if "skipped" in rec:
                print(f"{name}: skipped ({rec['skipped']})")
                continue
            if "error" in rec:
                failures.append(f"{name}: probe error {rec['error']}")
                continue
            extra = {"smlab.json": ""}
            m = torch.jit.load(rec["artifact"], _extra_files=extra)
            meta = json.loads(extra["smlab.json"])
            if meta.get("model") != name or meta.get("format") != 2:
                failures.append(f"{name}: metadata {meta.get('model')} format {meta.get('format')}")
            x = np.fromfile(os.path.join(d, name + ".input.bin"), dtype=DTYPES[rec["input_dtype"]]).reshape(rec["input_shape"])
            want = np.fromfile(os.path.join(d, name + ".output.bin"), dtype=np.float32).reshape(rec["output_shape"])
            with torch.no_grad():
                got = m(torch.from_numpy(x)).float().numpy()
            rel = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))
            checked += 1
            print(f"{name}: relative error {rel:.2e} ({rec['param_count']} params, input {rec['input_dtype']} {rec['input_shape']})")
            if not rel <= 1e-5:
                failures.append(f"{name}: relative error {rel:.3e} > 1e-5")
            if name == "resnet18":
                try:
                    import torchvision
                    ref = torchvision.models.resnet18(num_classes=5).state_dict()
                    # smlab_pixel_scale/shift are the artifact's own preprocessing buffers.
                    ours = {k: v for k, v in m.state_dict().items() if not k.startswith("smlab_")}
                    if set(ref) != set(ours):
                        failures.append(f"resnet18: state_dict keys differ from torchvision: {sorted(set(ref) ^ set(ours))[:5]}")
                    else:
                        bad = [k for k in ref if tuple(ref[k].shape) != tuple(ours[k].shape)]
                        if bad:
                            failures.append(f"resnet18: shapes differ for {bad[:5]}")
                except ImportError:
                    print("torchvision missing: resnet18 key check skipped")
    print(f"{checked} artifacts checked in Python")
    for f in failures:
        print("FAIL", f)
    if checked == 0:
        failures.append("no artifact was checked")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
