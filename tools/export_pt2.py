"""Export-time helper of `smlab export --format pt2|onnx` (docs/deployment.md): an smlab TorchScript
artifact -> an AOTInductor package (.pt2) or an ONNX model, with the same smlab metadata.

Python is needed here only, like a compiler: `smlab score` loads the .pt2 with
torch::inductor::AOTIModelPackageLoader and never runs Python.

Route: torch's TorchScript-to-ExportedProgram converter (torch._export.converter.TS2EPConverter)
on the artifact itself, so the weights, the preprocessing inside the graph and the classifier cut
are exactly the artifact's. The converted program is re-exported (non-strict) with a dynamic batch
dimension and, for token models whose export check says that shorter padding gives the same
outputs, a dynamic sequence length (Dim.AUTO: where the graph specialises the length, it stays
fixed and the package says so; where it needs a minimum, the package records it and smlab pads to
it). Two rewrites make the converted graph traceable with symbolic lengths: aten::_pad_enum
(constant, replicate) becomes constant_pad_nd / a cat of edge slices, and aten::max_pool1d becomes
max_pool2d on an unsqueezed input (their decompositions guard the length to the sample's).

When the artifact has `forward_embed` (penultimate features), that method is exported instead of
`forward`: the package then returns (outputs, embeddings), computed once.

Metadata. pt2: AOTInductor metadata (loader.get_metadata() in C++) with
  smlab.json            the artifact's smlab.json (input.tokens.variable_length false where the
                        length stayed fixed)
  smlab.package         {"format": "pt2", "device", "method", "outputs", "min_length", "max_length",
                         "variable_length", "torch_version", "route", "source_sha256"}
  smlab.tokenizer.b64   the embedded SentencePiece model, base64 (token models only)
onnx: the same three keys in the model's metadata_props.

usage: python tools/export_pt2.py --artifact model.pt --format pt2 --output model.pt2 [--device cpu]
Prints one JSON line (what was written) on stdout; exit status 2 with one line on stderr for an
artifact that cannot be exported.
"""
import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import time
import warnings

DTYPES = {"uint8": "uint8", "int64": "int64", "float32": "float32"}
PACKAGE_FORMAT = 1  # version of the smlab.package object


def fail(msg):
    print(f"smlab export: error: {msg}", file=sys.stderr)
    sys.exit(2)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sample_input(torch, spec, batch, device):
    """A random raw input of the artifact's contract: uint8 pixels, token ids or float features."""
    shape = [batch] + list(spec["shape"])
    g = torch.Generator().manual_seed(7)
    if spec["dtype"] == "uint8":
        x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    elif spec["dtype"] == "int64":
        vocab = int(spec.get("tokens", {}).get("vocab_size", 2))
        x = torch.randint(1, max(2, vocab), shape, dtype=torch.int64, generator=g)
        x[:, shape[1] // 2 + 1:] = int(spec.get("tokens", {}).get("pad_id", 0))  # padded tails, as scored
    else:
        x = torch.randn(shape, generator=g)
    return x.to(device)


def edge_pad(x, pad, mode, value=None):
    """aten::_pad_enum(x, pad, mode) for mode constant (3) and replicate (1) (at::padding_mode), pad =
    [left, right] per dim from the last one backwards, written with cat/expand so that torch.export
    keeps the padded dimension symbolic."""
    import torch
    if mode == 3:
        return torch.constant_pad_nd(x, list(pad), 0.0 if value is None else value)
    for i in range(len(pad) // 2):
        left, right = pad[2 * i], pad[2 * i + 1]
        d = x.dim() - 1 - i
        shape = list(x.shape)
        parts = []
        if left:
            shape[d] = left
            parts.append(x.narrow(d, 0, 1).expand(shape))
        parts.append(x)
        if right:
            shape[d] = right
            parts.append(x.narrow(d, x.size(d) - 1, 1).expand(shape))
        x = torch.cat(parts, d)
    return x


def max_pool1d(x, kernel, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    """aten::max_pool1d as max_pool2d over [.., 1, L] (the 1-d decomposition guards the length)."""
    import torch
    stride = list(stride) or list(kernel)
    y = torch.nn.functional.max_pool2d(x.unsqueeze(-2), [1, kernel[0]], [1, stride[0]], [0, padding[0]],
                                       [1, dilation[0]], ceil_mode)
    return y.squeeze(-2)


def rewrite(gm):
    """Replaces the converted graph's pads and 1-d max pools by their traceable twins."""
    import torch
    for n in list(gm.graph.nodes):
        if n.op != "call_function":
            continue
        new_target = None
        if n.target is torch.ops.aten._pad_enum.default:
            mode = n.args[2] if len(n.args) > 2 else n.kwargs.get("mode")
            value = n.args[3] if len(n.args) > 3 else n.kwargs.get("value")
            if mode in (1, 3):  # at::padding_mode replicate, constant
                new_target, args, kwargs = edge_pad, (n.args[0], list(n.args[1]), mode, value), {}
        elif n.target is torch.ops.aten.max_pool1d.default:
            new_target, args, kwargs = max_pool1d, tuple(n.args), dict(n.kwargs)
        if new_target is not None:
            with gm.graph.inserting_before(n):
                repl = gm.graph.call_function(new_target, args, kwargs)
            n.replace_all_uses_with(repl)
            gm.graph.erase_node(n)
    gm.graph.lint()
    gm.recompile()
    return gm


def method_module(torch, ts, method):
    """A scripted module whose forward is the artifact's `method` (the converter reads forward only)."""
    if method == "forward":
        return ts

    class Embed(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.forward_embed(x)

    return torch.jit.script(Embed(ts))


def export_program(torch, ts, spec, method, device, fixed_length=False):
    """The artifact's method as an ExportedProgram with a dynamic batch (and length where allowed)."""
    from torch._export.converter import TS2EPConverter
    x = sample_input(torch, spec, 3, device)
    converted = TS2EPConverter(method_module(torch, ts, method), (x,)).convert()
    gm = converted.module(check_guards=False)
    gm._forward_pre_hooks.clear()  # the converter's static input checks
    rewrite(gm)
    dims = {0: torch.export.Dim("batch", min=1, max=1 << 20)}
    tokens = spec.get("tokens") or {}
    if spec["dtype"] == "int64" and tokens.get("variable_length") and not fixed_length:
        dims[1] = torch.export.Dim.AUTO
    ep = torch.export.export(gm, (x,), dynamic_shapes=(dims,), strict=False)
    length = {"variable_length": False, "min_length": 0, "max_length": 0}
    if spec["dtype"] == "int64":
        val = [n for n in ep.graph.nodes if n.op == "placeholder"][-1].meta["val"]
        L = val.shape[1]
        length["max_length"] = int(spec["shape"][0])
        if isinstance(L, int):
            length["min_length"] = L
        else:
            length["variable_length"] = True
            rng = ep.range_constraints.get(L.node.expr)
            length["min_length"] = max(1, int(rng.lower)) if rng is not None else 1
    return ep, x, length


def shorter_length_ok(torch, ts, spec, method, length, run):
    """The exported model at a shorter padded length (batch 2) against the artifact, within 1e-4: the
    dynamic length must give the artifact's outputs, not only trace (ONNX translation can still pin it)."""
    if not length["variable_length"]:
        return True
    short = max(length["min_length"], length["max_length"] // 2)
    x = sample_input(torch, spec, 2, next(iter(ts.parameters())).device)[:, :short]
    try:
        with torch.no_grad():
            want = getattr(ts, method)(x)
            got = run(x)
        want = list(want) if isinstance(want, (list, tuple)) else [want]
        got = list(got) if isinstance(got, (list, tuple)) else [got]
        for g, w in zip(got, want):
            g, w = torch.as_tensor(g).double().cpu(), w.double().cpu()
            if g.shape != w.shape or float((g - w).abs().max() / w.abs().max().clamp_min(1e-12)) > 1e-4:
                return False
        return len(got) == len(want)
    except Exception:  # noqa: BLE001 (a shape the exported model rejects: the length is not dynamic)
        return False


def onnx_runner(path):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x.cpu().numpy()})


def write_atomic(path, write):
    """Calls write(tmp) for `tmp` = a temporary folder beside `path` / path's name (an AOTInductor
    package takes its archive prefix from the name), fsyncs it and renames it over `path`."""
    import shutil
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".tmp.", dir=d)
    tmp = os.path.join(tmpdir, os.path.basename(path))
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def metadata(torch, meta, tokenizer, package):
    meta = json.loads(json.dumps(meta))
    if "tokens" in meta.get("input", {}):
        meta["input"]["tokens"]["variable_length"] = package["variable_length"]
    out = {"smlab.json": json.dumps(meta), "smlab.package": json.dumps(package)}
    if tokenizer:
        out["smlab.tokenizer.b64"] = base64.b64encode(tokenizer).decode("ascii")
    return out


def write_pt2(torch, ep, md, output):
    def compile_to(tmp):
        torch._inductor.aoti_compile_and_package(ep, package_path=tmp, inductor_configs={"aot_inductor.metadata": md})
    write_atomic(output, compile_to)


def write_onnx(torch, ep, x, md, output, method):
    import onnx
    names = ["smlab_output", "smlab_embedding"] if method == "forward_embed" else ["smlab_output"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(ep, (x,), dynamo=True, input_names=["x"], output_names=names, verbose=False)
    model = program.model_proto
    for k, v in md.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    write_atomic(output, lambda tmp: onnx.save(model, tmp))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--format", choices=["pt2", "onnx"], required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    t0 = time.time()
    warnings.filterwarnings("ignore")
    try:
        import torch
    except ImportError as e:
        fail(f"the Python that exports .pt2/ONNX cannot import torch ({e}); set SMLAB_EXPORT_PYTHON or --python")
    if a.format == "onnx":
        try:
            import onnx  # noqa: F401
        except ImportError as e:
            fail(f"ONNX export needs the onnx and onnxscript packages in {sys.executable} ({e}); run scripts/install_deps.sh")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        fail(f"--device {a.device}: no CUDA GPU is visible to {sys.executable}; export for CUDA on a GPU node")
    extra = {"smlab.json": "", "tokenizer.model": ""}
    try:
        ts = torch.jit.load(a.artifact, map_location=device, _extra_files=extra)
    except Exception as e:  # noqa: BLE001
        fail(f"{a.artifact}: not a TorchScript artifact ({str(e).splitlines()[0]})")
    if not extra["smlab.json"]:
        fail(f"{a.artifact}: a TorchScript file without smlab metadata (smlab.json)")
    ts.eval()
    meta = json.loads(extra["smlab.json"])
    method = "forward_embed" if hasattr(ts, "forward_embed") and meta.get("output", {}).get("embed") else "forward"
    tokenizer = extra["tokenizer.model"]
    tokenizer = tokenizer.encode("latin-1") if isinstance(tokenizer, str) else tokenizer
    for fixed in (False, True):  # a dynamic length that does not give the artifact's outputs: fixed length
        try:
            with torch.no_grad():
                ep, x, length = export_program(torch, ts, meta["input"], method, device, fixed_length=fixed)
        except Exception as e:  # noqa: BLE001
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            fail(f"{a.artifact}: model '{meta.get('model')}' cannot be exported to {a.format} by torch.export "
                 f"({type(e).__name__}: {first}); use the TorchScript artifact")
        if not shorter_length_ok(torch, ts, meta["input"], method, length, ep.module()):
            continue
        package = {"format": PACKAGE_FORMAT, "kind": a.format, "device": device.type, "method": method,
                   "outputs": 2 if method == "forward_embed" else 1, "torch_version": torch.__version__,
                   "route": "TS2EPConverter", "source_sha256": sha256(a.artifact), **length}
        md = metadata(torch, meta, tokenizer, package)
        if a.format == "pt2":
            write_pt2(torch, ep, md, a.output)
            ok = device.type != "cpu" or shorter_length_ok(torch, ts, meta["input"], method, length,
                                                           torch._inductor.aoti_load_package(a.output))
        else:
            write_onnx(torch, ep, x, md, a.output, method)
            ok = shorter_length_ok(torch, ts, meta["input"], method, length, onnx_runner(a.output))
        if ok:
            break
        print(f"[export_pt2] {meta.get('model')}: the {a.format} model gives other outputs at shorter lengths; "
              "exporting it again with the length fixed at max_len", file=sys.stderr)
    print(json.dumps({"output": a.output, "model": meta.get("model"), "seconds": round(time.time() - t0, 1),
                      **package}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
