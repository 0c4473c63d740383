"""What the Python tests share before they start: the skip rules (exit status 77, which CTest reports
as skipped, with one line saying why) and running the smlab binary. Not a test itself (CTest runs
tests/python/test_*.py).

    BIN = testenv.require_files("SMLAB_BIN")[0]
    np, = testenv.require_modules("numpy")
"""
import importlib
import os
import subprocess
import sys


def require_files(*variables):
    """The paths in these environment variables, or exit 77 when one is unset or missing."""
    paths = [os.environ.get(v, "") for v in variables]
    for v, p in zip(variables, paths):
        if not p or not os.path.exists(p):
            print(f"skipping: {v} is not set")
            sys.exit(77)
    return paths


def require_modules(*names, hint="scripts/install_deps.sh installs it"):
    """The imported modules, or exit 77 naming the first one that is missing."""
    out = []
    for n in names:
        try:
            out.append(importlib.import_module(n))
        except ImportError:
            print(f"skipping: {n} is not installed ({hint})")
            sys.exit(77)
    return out


def smlab(binary, *args, ok=True, timeout=900, threads="2"):
    """Runs `binary args...` with OMP_NUM_THREADS=threads; with ok, a failure raises with its output."""
    env = dict(os.environ, OMP_NUM_THREADS=threads)
    p = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if ok and p.returncode != 0:
        raise AssertionError(f"smlab {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def train_blobs(binary, tmp, data="", train="epochs: 2, log_every: 3, progress: none", model="{name: mlp, hidden: [16]}",
                device="cpu"):
    """A tiny MLP run on synthetic_blobs in tmp/run (the TensorBoard tests' fixture): (run folder,
    the records of its metrics.jsonl). `data` adds keys to the data section; `train` is the train section."""
    import json
    import pathlib
    run, cfg = pathlib.Path(tmp) / "run", pathlib.Path(tmp) / "tb.yaml"
    cfg.write_text(f"model: {model}\n"
                   "data: {name: synthetic_blobs, features: 4, classes: 3, train_size: 320, val_size: 64, "
                   f"test_size: 64, batch_size: 32, workers: 0{', ' + data if data else ''}}}\n"
                   f"train: {{{train}}}\nexperiment: {{device: {device}}}\n")
    subprocess.run([binary, "train", str(cfg), "--run-dir", str(run)], check=True, capture_output=True)
    return run, [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


POS_WORDS, NEG_WORDS = ["good", "great", "love"], ["bad", "awful", "hate"]
FILLER_WORDS = ["the", "a", "movie", "day", "is", "was", "this", "it", "so", "very", "and", "then"]


def polar_sentence(rng, label, polar=True):
    """2-8 filler words with one positive (label 1) or negative (label 0) word among them (none
    when not `polar`): the synthetic sentiment texts of the text tests."""
    words = [str(w) for w in rng.choice(FILLER_WORDS, size=int(rng.integers(2, 9)))]
    if polar:
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(POS_WORDS if label else NEG_WORDS)))
    return " ".join(words)


def tiny_text_config(path, tmp, name, train_file, data="", train="epochs: 4, progress: none", experiment="",
                     batch=32):
    """Writes a tiny two-class BiLSTM text_tsv config (word tokenizer of 30 pieces, cached under tmp/tok,
    runs under tmp/runs) to `path` and returns it; `data`, `experiment` add keys to those sections."""
    with open(path, "w") as f:
        f.write(f"version: 1\nexperiment: {{name: {name}, output_dir: {tmp}/runs, device: cpu, seed: 0"
                f"{', ' + experiment if experiment else ''}}}\n"
                "model: {name: bilstm, embed_dim: 16, hidden: 16, pooling: max}\n"
                f"data: {{name: text_tsv, train: {train_file}, classes: [negative, positive], tokenizer: auto, "
                f"tokenizer_vocab: 30, tokenizer_type: word, tokenizer_cache: {tmp}/tok, max_len: 16, "
                f"batch_size: {batch}, workers: 0{', ' + data if data else ''}}}\n"
                f"optim: {{name: adamw, lr: 0.01}}\ntrain: {{{train}}}\n")
    return path


def square_image(np, rng, cls):
    """Noise with an 8x8 square, red (class 0) or blue (class 1), at a random place: (pixels [32, 32, 3]
    uint8, row, col). The planted-square fixture of the explain tests: Grad-CAM should find the square."""
    x = (rng.random((32, 32, 3)) * 80).astype(np.uint8)
    r, c = int(rng.integers(0, 25)), int(rng.integers(0, 25))
    x[r:r + 8, c:c + 8] = (230, 30, 30) if cls == 0 else (30, 30, 230)
    return x, r, c
