#!/usr/bin/env bash
# README command 1: install everything, build, and run the built-in demo
# (experiments/quickstart.yaml: train, evaluate the best checkpoint on the test split, export it to
# TorchScript and score sample rows with the artifact).
# Extra arguments are config overrides for the demo run, e.g. `bash scripts/quickstart.sh train.epochs=2`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install_deps.sh"
# Only the `smlab` binary (and its library): the test suites are README command 2's business.
SMLAB_TARGETS="${SMLAB_TARGETS:-smlab_cli}" bash "$ROOT/scripts/build.sh"
cd "$ROOT"
SMLAB="${SMLAB_BUILD_DIR:-$ROOT/build}/smlab"
"$SMLAB" info
"$SMLAB" train experiments/quickstart.yaml "$@"
RUN="runs/quickstart/latest"
"$SMLAB" eval "$RUN" --split test
# Deployment: a TorchScript artifact (plus 200 test rows as a sample input), then batch scoring.
"$SMLAB" export "$RUN" --sample 200
rm -f "$RUN/scores.csv" "$RUN/scores.csv.rejects.csv" "$RUN/scores.csv.done.json"
"$SMLAB" score --model "$RUN/model.pt" --input "$RUN/model.pt.sample.csv" --output "$RUN/scores.csv"
head -4 "$RUN/scores.csv"
echo
echo "[quickstart] done. Run folder: $(readlink -f "$RUN")"
echo "[quickstart] next: 'build/smlab sweep experiments/sweeps/quickstart_grid.yaml', 'tensorboard --logdir runs/'"
