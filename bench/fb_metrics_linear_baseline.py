"""A least-squares baseline for the Facebook-metrics engagement experiment (Moro et al. 2016),
independent of smlab: ordinary least squares on log1p targets from the same 7 inputs (Type and
Category one-hot, the rest standardised on the training folds), on exactly the folds `smlab cv`
uses (torch.randperm with the data seed over the rows without missing values, numpy.array_split
chunks). Prints MAPE, MdAPE and R^2 per target in the data's units, pooled over the held-out folds,
for comparison with `smlab cv experiments/engagement/fb_metrics_mlp.yaml` (docs/results.md).

  /work/main/.venv/bin/python bench/fb_metrics_linear_baseline.py [$SMLAB_DATA/fb_metrics_moro2016/dataset_Facebook.csv]
"""
import csv
import os
import sys

import numpy as np
import torch

FEATURES = ["Page total likes", "Post Month", "Post Weekday", "Post Hour", "Paid"]
CATEGORICAL = {"Type": ["Link", "Photo", "Status", "Video"], "Category": ["1", "2", "3"]}
TARGETS = [
    "Lifetime Post Total Reach", "Lifetime Post Total Impressions", "Lifetime Engaged Users",
    "Lifetime Post Consumers", "Lifetime Post Consumptions",
    "Lifetime Post Impressions by people who have liked your Page",
    "Lifetime Post reach by people who like your Page",
    "Lifetime People who have liked your Page and engaged with your post", "comment", "like", "share",
    "Total Interactions",
]


def main():
    default = os.path.join(os.environ.get("SMLAB_DATA", "../shared/datasets"), "fb_metrics_moro2016", "dataset_Facebook.csv")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    header, rows = rows[0], rows[1:]
    ix = {n: i for i, n in enumerate(header)}
    used = FEATURES + list(CATEGORICAL) + TARGETS
    rows = [r for r in rows if all(r[ix[c]].strip() != "" for c in used)]
    n = len(rows)
    num = np.array([[float(r[ix[c]]) for c in FEATURES] for r in rows])
    cat = np.array([[1.0 if r[ix[c]].strip() == v else 0.0 for c, vals in CATEGORICAL.items() for v in vals] for r in rows])
    y = np.array([[float(r[ix[t]]) for t in TARGETS] for r in rows])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0)).numpy()
    folds = np.array_split(perm, 10)
    pred = np.zeros_like(y)
    for test in folds:
        train = np.setdiff1d(perm, test)
        mu, sd = num[train].mean(0), num[train].std(0)
        sd[sd < 1e-12] = 1
        def design(idx):
            return np.hstack([(num[idx] - mu) / sd, cat[idx]])
        w = np.linalg.lstsq(design(train), np.log1p(y[train]), rcond=None)[0]
        pred[test] = np.expm1(design(test) @ w)
    print(f"{n} rows, 10 folds, OLS on log1p targets\n")
    print("| target | MAPE | MdAPE | R² |\n|---|---:|---:|---:|")
    for j, t in enumerate(TARGETS):
        m = y[:, j] != 0
        ape = np.abs(y[m, j] - pred[m, j]) / np.abs(y[m, j])
        r2 = 1 - ((y[:, j] - pred[:, j]) ** 2).sum() / ((y[:, j] - y[:, j].mean()) ** 2).sum()
        print(f"| {t} | {100 * ape.mean():.1f}% | {100 * np.median(ape):.1f}% | {r2:.3f} |")


if __name__ == "__main__":
    main()
