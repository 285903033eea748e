#!/usr/bin/env bash
# The GPU benchmark: `lab bench` on one GPU, then the largest slice of the in-regime paper-scale
# sweeps that fits about ten minutes each, with their plans. Run from the repository root:
#
#   bash benchmarks/gpu.sh [OUT]        (OUT defaults to benchmarks/results/gpu)
#
# Needs lab installed with its CUDA extra and torch for the PyTorch peers:
#   pip install -e '.[cuda,torch]'
# Writes: OUT/<date>-gpu.json (+ the scaling figure beside it), OUT/plan-<sweep>.txt and, per
# sweep, a run directory OUT/runs/<sweep> (rows, fit.json, figures) that a later call resumes.
# Targets (benchmarks/README.md): small population >= 200x the PyTorch loop on the same GPU,
# large >= 50% of the GPU's measured float32 matmul peak (the `peak` benchmark).
set -euo pipefail

OUT="${1:-benchmarks/results/gpu}"
SWEEP_SECONDS="${SWEEP_SECONDS:-600}"
mkdir -p "$OUT/runs"

python -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', f'no GPU: {d}'; print(d.device_kind)"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/nvidia-smi.csv"

# 1. Throughput against the GPU's matmul peak and its peers (the same GPU runs the PyTorch loop).
lab bench --out "$OUT" 2>&1 | tee "$OUT/bench.txt"

# 2. The paper-scale sweeps in the laws' regimes: plan (buckets, programs, estimated time), then
#    train for at most SWEEP_SECONDS; a run that did not finish keeps its rows and resumes on the
#    next call. A finished run is fitted and drawn by `lab run` itself.
for sweep in superposition-paper attention-paper; do
    lab plan "sweeps/$sweep.toml" | tee "$OUT/plan-$sweep.txt"
    start=$(date +%s)
    timeout --signal=INT "$SWEEP_SECONDS" lab run "sweeps/$sweep.toml" --out "$OUT/runs/$sweep" --plain \
        2>&1 | tee "$OUT/runs/$sweep.log" || echo "$sweep: stopped after ${SWEEP_SECONDS}s (resumable)"
    echo "$sweep: $(( $(date +%s) - start ))s wall" | tee -a "$OUT/runs/$sweep.log"
done
