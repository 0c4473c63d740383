#!/usr/bin/env python3
"""Throughput of the fused augmentation op smlab::augment_image against torchvision.transforms.v2.

Workload: a batch of uint8 images (default 256 images of 256x256x3) -> random-resized-crop to 224x224
(bilinear) -> horizontal flip -> color jitter (0.4, 0.4, 0.4, 0.1) -> float32 -> ImageNet normalisation.

  * fused:       torch.ops.smlab.augment_params (host, per-sample params) + torch.ops.smlab.augment_image
                 on the NHWC uint8 batch (one pass, per-sample parameters).
  * torchvision: transforms.v2.Compose([RandomResizedCrop(224, antialias=False), RandomHorizontalFlip(),
                 ColorJitter(0.4, 0.4, 0.4, 0.1), ToDtype(float32, scale=True), Normalize]) applied to the
                 batched NCHW uint8 tensor (v2 draws ONE set of parameters for the whole batch, so it does
                 less work than per-sample augmentation). --antialias also times antialias=True.

Both run in the same process with the same torch thread count (--threads). Reports images/s, GB/s
(uint8 input + output bytes moved once) and the ratio fused / torchvision. On --device cuda the
tensors live on the GPU, times are taken after torch.cuda.synchronize(), and the device's copy
bandwidth (a device-to-device copy of the output size) is reported next to them.

Usage:
  python bench/augment_bench.py --build build [--device cpu|cuda] [--threads 2] [--batch 256]
"""
import argparse
import os
import platform
import statistics
import sys
import time

import torch


def load_smlab(build):
    lib = os.path.join(build, "libsmlab.so")
    if not os.path.exists(lib):
        sys.exit(f"no {lib}: build smlab first (scripts/build.sh)")
    torch.ops.load_library(lib)


def timeit(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("SMLAB_BINARY_DIR", "build"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--in-size", type=int, default=256)
    ap.add_argument("--out-size", type=int, default=224)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--antialias", action="store_true", help="also time torchvision with antialias=True")
    args = ap.parse_args()

    import torchvision
    from torchvision.transforms import v2 as T

    torch.set_num_threads(args.threads)
    load_smlab(args.build)
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda but no CUDA device")
    N, S, O = args.batch, args.in_size, args.out_size
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    g = torch.Generator().manual_seed(0)
    x_nhwc = torch.randint(0, 256, (N, S, S, 3), dtype=torch.uint8, generator=g).to(dev)
    x_nchw = x_nhwc.permute(0, 3, 1, 2).contiguous()  # torchvision's own layout, prepared outside the timing

    seed = [0]

    def fused():
        seed[0] += 1
        p = torch.ops.smlab.augment_params(N, S, S, [0.08, 1.0], [3 / 4, 4 / 3], 0.5, 0.4, 0.4, 0.4, 0.1, seed[0])
        return torch.ops.smlab.augment_image(x_nhwc, p, O, O, mean, std)

    def tv_pipeline(antialias):
        return T.Compose([
            T.RandomResizedCrop(O, antialias=antialias),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.4, 0.4, 0.4, 0.1),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(mean, std),
        ])

    tv = tv_pipeline(False)
    in_bytes = N * S * S * 3
    out_bytes = N * 3 * O * O * 4
    rows = []
    t_f, tmin_f = timeit(fused, dev, args.warmup, args.iters)
    rows.append(("smlab fused augment_image", t_f, tmin_f))
    t_tv, tmin_tv = timeit(lambda: tv(x_nchw), dev, args.warmup, args.iters)
    rows.append(("torchvision v2 (antialias=False)", t_tv, tmin_tv))
    if args.antialias:
        tva = tv_pipeline(True)
        t_a, tmin_a = timeit(lambda: tva(x_nchw), dev, args.warmup, args.iters)
        rows.append(("torchvision v2 (antialias=True)", t_a, tmin_a))

    print(f"# augment benchmark: device={dev} threads={torch.get_num_threads()} batch={N} {S}x{S}x3 uint8 -> "
          f"{O}x{O} float32, median of {args.iters} (warmup {args.warmup})")
    print(f"# torch {torch.__version__}, torchvision {torchvision.__version__}, python {platform.python_version()}")
    if dev == "cuda":
        print(f"# GPU: {torch.cuda.get_device_name()}")
    print("| pipeline | median s/batch | min s/batch | images/s | GB/s (in+out) |")
    print("|---|---|---|---|---|")
    for name, t, tmin in rows:
        print(f"| {name} | {t:.4f} | {tmin:.4f} | {N / t:.1f} | {(in_bytes + out_bytes) / t / 1e9:.3f} |")
    print(f"\nratio fused / torchvision v2 (antialias=False), images/s: {t_tv / t_f:.2f}x (target >= 1.5x)")
    if args.antialias:
        print(f"ratio fused / torchvision v2 (antialias=True), images/s: {rows[2][1] / t_f:.2f}x")
    if dev == "cuda":
        src = torch.empty(out_bytes, dtype=torch.uint8, device=dev)
        dst = torch.empty_like(src)
        t_c, _ = timeit(lambda: dst.copy_(src), dev, 2, 20)
        print(f"device copy bandwidth (d2d, {out_bytes / 1e6:.0f} MB, read+write): {2 * out_bytes / t_c / 1e9:.1f} GB/s; "
              f"fused op moves {(in_bytes + out_bytes) / t_f / 1e9:.1f} GB/s")


if __name__ == "__main__":
    main()
