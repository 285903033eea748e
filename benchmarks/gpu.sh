#!/usr/bin/env bash
# The GPU benchmark, sized to finish in one command of under 10 minutes on a machine with one GPU:
# `lab bench --quick` (GEMM peak, populations, peers, scaling; then the quick sweeps cold), then
# the in-regime paper-scale sweeps of both labs for SWEEP_SECONDS each, with their plans. Run from
# the repository root:
#
#   bash benchmarks/gpu.sh [OUT]        (OUT defaults to $OUT, else benchmarks/results/gpu)
#
# Installs nothing: it needs jax with a GPU backend, flax, optax, numpy and matplotlib (torch too
# for the PyTorch peers, which are skipped without it), and runs lab from the checkout when the
# `lab` command is absent (`python -m lab`). Writes six files into OUT:
#   <date>-gpu.json, <date>-gpu.png   lab bench: populations, peers, scaling (and its figure)
#   <later date>-gpu.json             lab bench --only sweep: the quick sweeps cold (its `command`
#                                     field says which run a record is)
#   log.txt                           nvidia-smi, both bench summaries, each sweep's plan and progress
#   runs.tar.gz                       the sliced paper sweeps' specs and run dirs (rows; a finished
#                                     one its fit and figures): unpack and `lab run SPEC --out DIR`
# Time (env): BENCH_SECONDS (default 210) and SWEEP_BENCH_SECONDS (120) cap the two bench runs,
# SWEEP_SECONDS (60) each paper sweep's training; each is stopped by SIGINT and, if still running
# 20 s later (a chunk in flight finishes first), killed: at most about 9.5 minutes in all. Each
# paper sweep is planned whole (the plan calibrates a time estimate on this GPU) and trained as a
# slice, superposition's widths n = SUPERPOSITION_N (default [16, 32, 64, 128]) and attention's
# d_model = ATTENTION_D (default [32, 64]): a sweep trains its costliest bucket first, so a whole
# paper sweep cut short would leave only its largest bucket, unfinished.
# Targets (benchmarks/README.md): small population >= 200x the PyTorch loop on the same GPU,
# large >= 50% of the GPU's measured float32 matmul peak (the `peak` benchmark).
# ALLOW_CPU=1 runs it without a GPU (to check the script itself; its numbers are not GPU numbers).
set -uo pipefail  # no -e: a step that fails or runs out of time is logged and the next one runs

OUT="${1:-${OUT:-benchmarks/results/gpu}}"
BENCH_SECONDS="${BENCH_SECONDS:-210}"
SWEEP_BENCH_SECONDS="${SWEEP_BENCH_SECONDS:-120}"
SWEEP_SECONDS="${SWEEP_SECONDS:-60}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/log.txt"
RUNS="$(mktemp -d)/runs"; mkdir -p "$RUNS"
if command -v lab >/dev/null; then LAB=(lab); else LAB=("$PY" -m lab); fi
export PYTHONUNBUFFERED=1

say() { echo "$@" | tee -a "$LOG"; }

"$PY" -c "import jax; d = jax.devices()[0]; print(d.platform, d.device_kind, 'jax', jax.__version__)" 2>&1 | tee -a "$LOG"
if [ "${ALLOW_CPU:-0}" != 1 ] && ! "$PY" -c "import jax, sys; sys.exit(jax.devices()[0].platform != 'gpu')"; then
    say "no GPU: JAX's first device is not a GPU (ALLOW_CPU=1 runs the script anyway)"
    exit 1
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$LOG"

# 1. Throughput against the GPU's matmul peak and its peers (the PyTorch loops run on the same GPU),
#    then the quick sweeps cold (what compiling costs there). Each run writes its JSON at its end.
say "== lab bench --quick --only ${BENCH_ONLY:=peak,population,peers,scaling} (at most ${BENCH_SECONDS}s)"
timeout --signal=INT --kill-after=20 "$BENCH_SECONDS" "${LAB[@]}" bench --quick --only "$BENCH_ONLY" --out "$OUT" 2>&1 | tee -a "$LOG"
say "== lab bench --quick --only sweep (at most ${SWEEP_BENCH_SECONDS}s)"
timeout --signal=INT --kill-after=20 "$SWEEP_BENCH_SECONDS" "${LAB[@]}" bench --quick --only sweep --out "$OUT" 2>&1 | tee -a "$LOG"

# 2. The paper-scale sweeps in the laws' regimes: the whole sweep's plan (buckets, programs,
#    estimated time on this GPU), then a slice of it trained for at most SWEEP_SECONDS; a run that
#    did not finish keeps its rows and resumes on the next call. A finished run is fitted and drawn
#    by `lab run` itself.
slice_spec() {  # SPEC AXIS VALUES -> a copy of sweeps/SPEC.toml with the sweep axis AXIS = VALUES
    "$PY" - "$1" "$2" "$3" "$(dirname "$RUNS")" <<'PYEOF'
import pathlib, re, sys
name, axis, values, folder = sys.argv[1:]
text = pathlib.Path(f"sweeps/{name}.toml").read_text()
text, n = re.subn(rf"^{axis}\s*=\s*\[[^\]]*\]", f"{axis} = {values}", text, flags=re.M)
if n != 1:
    sys.exit(f"sweeps/{name}.toml: no line '{axis} = [...]' to slice")
out = pathlib.Path(folder) / f"{name}-slice.toml"
out.write_text(f"# sweeps/{name}.toml with {axis} = {values} (benchmarks/gpu.sh)\n" + text)
print(out)
PYEOF
}
for entry in "superposition-paper n ${SUPERPOSITION_N:-[16, 32, 64, 128]}" "attention-paper d_model ${ATTENTION_D:-[32, 64]}"; do
    read -r sweep axis values <<<"$entry"
    say "== $sweep: the whole sweep's plan"
    "${LAB[@]}" plan "sweeps/$sweep.toml" 2>&1 | tee -a "$LOG"
    spec=$(slice_spec "$sweep" "$axis" "$values") || { say "$sweep: could not slice it"; continue; }
    say "== $sweep, $axis = $values: at most ${SWEEP_SECONDS}s of training"
    start=$(date +%s)
    timeout --signal=INT --kill-after=20 "$SWEEP_SECONDS" "${LAB[@]}" run "$spec" --out "$RUNS/$sweep-slice" --plain 2>&1 | tee -a "$LOG" \
        || say "$sweep: stopped after ${SWEEP_SECONDS}s (resumable)"
    say "$sweep: $(( $(date +%s) - start ))s wall"
done
cp "$(dirname "$RUNS")"/*-slice.toml "$RUNS"/ 2>/dev/null
tar -czf "$OUT/runs.tar.gz" -C "$(dirname "$RUNS")" runs && say "run dirs: $OUT/runs.tar.gz"
