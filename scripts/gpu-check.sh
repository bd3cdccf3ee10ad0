#!/usr/bin/env bash
# The GPU check: everything issue 10 measures on a GPU, as one run of under 6 minutes on a bare GPU machine (a
# driver, CUDA, Python with torch and transformers; no JDK, no network), with a time limit on each step and every
# result written into $OUT in at most 8 files. See docs/CUDA.md ("The GPU check") for what each step measures and
# where its figures are recorded.
#
#   scripts/gpu-check.sh --prepare       here (JDK 25, Maven): the bundle and a Brown-corpus slice (tokenizer and
#                                        shards) into build/gpu/ (about 26 MiB: carry that one path)
#   scripts/gpu-check.sh                 on the GPU machine, from the repository root, build/gpu/ beside it
#   GPU_CHECK_DRY=1 scripts/gpu-check.sh here: the same steps on the CPU with short limits, so the script, the
#                                        bundle, the data and every check are debugged before any GPU minute
#
# The CPU fp32 reference curve is computed on the GPU machine itself, on 12 of its 16 cores while the device
# steps run (the rest stay with the process driving the GPU): it takes seconds there, minutes here.
#
# Checks written by others plug in without editing this file: every scripts/gpu/*.py and scripts/gpu/*.sh is run
# in name order, each under its own time limit (a "# gpu-check: timeout=SECONDS" line, default 60), with the
# environment documented in docs/CUDA.md; exit 0 passes, 77 skips, anything else fails; what they print is
# appended to checks.txt.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
prep=build/gpu
prepare() {
  set -e
  scripts/bundle.sh
  mkdir -p "$prep"
  cp build/cramjet-bundle.tar.gz "$prep/"
  if [ ! -f "$prep/data/prepare.json" ]; then
    build/bundle/cramjet prepare --corpus brown --vocab 8192 --out "$prep/data"
  fi
  du -sh "$prep"
  echo "gpu-check: prepared. On the GPU machine (device tool): carry [\"$prep\"], run: scripts/gpu-check.sh"
}

if [ "${1:-}" = --prepare ]; then prepare; exit $?; fi
[ $# -eq 0 ] || { echo "usage: scripts/gpu-check.sh [--prepare]   (GPU_CHECK_DRY=1 for a dry run on the CPU)" >&2; exit 2; }
for f in "$prep/cramjet-bundle.tar.gz" "$prep/data/prepare.json"; do
  [ -f "$f" ] || { echo "gpu-check: $f is missing: run scripts/gpu-check.sh --prepare first (and carry $prep)" >&2; exit 2; }
done

dry=${GPU_CHECK_DRY:-0}
out=${OUT:-build/gpu-check-out}
work=${GPU_CHECK_WORK:-/tmp/cramjet-gpu-check}
budget=${GPU_CHECK_BUDGET:-345}           # seconds for the whole script; later steps are skipped past it
rm -rf "$work" && mkdir -p "$out" "$work"
out=$(cd "$out" && pwd)
: > "$out/summary.txt"; : > "$out/checks.txt"; : > "$out/train.txt"; : > "$out/doctor.txt"
tar -C "$work" -xzf "$prep/cramjet-bundle.tar.gz"
export CRAMJET="$work/bundle/cramjet" CRAMJET_CACHE="$work/cache" GPU_CHECK_DATA="$root/$prep/data"
# The dry run keeps every step and shrinks its shapes, so it fits a loaded 2-core machine.
if [ "$dry" = 1 ]; then
  export GPU_CHECK_DEVICE=cpu
  bench=(--preset micro --steps 2 --decode 8)
  curve=(--model micro --batch 4 --context 64) curve_steps=8
  train=(--model micro --batch 8 --context 64 --budget 10s)
  plan=(--context 64 --batch 4 --bench 4s)
else
  export GPU_CHECK_DEVICE=cuda
  bench=(--preset gpt2-124m --batch 16 --seq 1024 --steps 10 --decode 32)
  curve=(--model tiny --batch 8 --context 256) curve_steps=200
  train=(--model small --batch 32 --context 256 --budget "${GPU_CHECK_TRAIN_BUDGET:-75s}")
  plan=(--context 1024 --batch 16 --bench 10s --corpus-tokens 100B)  # the slice is small: plan for a real corpus
fi
# The comparison run: trained on the CPU (fp32, in the background) and on the device, compared step by step.
curve+=(--max-steps "$curve_steps" --seed 1337 --lr 2e-3 --eval-every 0 --eval-minutes 0 --checkpoint-minutes 0
        --samples 0 --log-every 1)
dev=$GPU_CHECK_DEVICE
start=$(date +%s)
# The CPU reference of the comparison run starts now and runs beside the device steps.
CRAMJET_JAVA_OPTS="-XX:ActiveProcessorCount=$(( $(nproc) > 4 ? $(nproc) - 4 : 1 ))" timeout 240 "$CRAMJET" train \
  --data "$GPU_CHECK_DATA" --out "$work/cpu-run" "${curve[@]}" --device cpu \
  > "$work/cpu-run.log" 2>&1 &
cpu_run=$!

{
  echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), device $dev, dry=$dry"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo '?') $(git status --porcelain 2>/dev/null | wc -l) changed files"
  uname -a; nproc; free -g 2>/dev/null | head -2
  nvidia-smi 2>&1 | head -20
  python3 -c 'import sys, torch, transformers; print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tail -1
  "$CRAMJET" help | head -1
  du -sh "$work/bundle" "$prep"
} > "$out/env.txt" 2>&1

# step NAME LIMIT FILE CMD... — runs CMD under LIMIT seconds (unless the script's budget is spent), appends its
# output to FILE, and records status and time in summary.txt.
step() {
  local name=$1 limit=$2 file=$3; shift 3
  local now=$(( $(date +%s) - start )) rc t0
  if [ "$now" -ge "$budget" ]; then
    printf '%-28s SKIP (the %ds budget was spent)\n' "$name" "$budget" >> "$out/summary.txt"
    return 0
  fi
  [ $((now + limit)) -le "$budget" ] || limit=$((budget - now))
  t0=$(date +%s)
  echo "==== $name (limit ${limit}s): $*" >> "$file"
  timeout --kill-after=5 "$limit" "$@" >> "$file" 2>&1
  rc=$?
  local verdict=ok
  [ "$rc" -eq 0 ] || verdict="FAIL (exit $rc)"
  [ "$rc" -eq 124 ] && verdict="FAIL (over its ${limit}s limit)"
  [ "$rc" -eq 77 ] && verdict="SKIP"
  printf '%-28s %-26s %4ss  %s\n' "$name" "$verdict" "$(( $(date +%s) - t0 ))" "$(tail -n 1 "$file" | cut -c1-110)" >> "$out/summary.txt"
  echo "==== $name: exit $rc after $(( $(date +%s) - t0 ))s" >> "$file"
  return 0
}

step doctor 90 "$out/doctor.txt" "$CRAMJET" doctor --device "$dev"
step selftest 120 "$out/doctor.txt" "$CRAMJET" selftest --device "$dev"
: > "$work/bench.jsonl"
step bench 150 "$work/bench.jsonl" "$CRAMJET" bench --device "$dev" "${bench[@]}" --json
grep '^{' "$work/bench.jsonl" > "$out/bench.jsonl"; grep -v '^{' "$work/bench.jsonl" >> "$out/doctor.txt"

# The same run on the device, compared step by step with the CPU's.
step "train vs cpu fp32 curve" 60 "$out/train.txt" "$CRAMJET" train --data "$GPU_CHECK_DATA" --out "$work/curve-run" \
     "${curve[@]}" --device "$dev"
step "cpu fp32 reference" 150 "$out/train.txt" bash -c "while kill -0 $cpu_run 2>/dev/null; do sleep 1; done; tail -n 3 '$work/cpu-run.log'; test -f '$work/cpu-run/metrics.jsonl'"
cat > "$work/curves.py" <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1]) if '"type":"train"' in l]
run = [json.loads(l) for l in open(sys.argv[2]) if '"type":"train"' in l]
steps = min(len(ref), len(run), int(sys.argv[4]))
def ema(xs, span=20.0):
    out, avg, w, b = [], 0.0, 0.0, 1 - 1 / span
    for x in xs:
        avg, w = b * avg + (1 - b) * x, b * w + (1 - b)
        out.append(avg / w)
    return out
a, b = [r["loss"] for r in ref[:steps]], [r["loss"] for r in run[:steps]]
sa, sb = ema(a), ema(b)
with open(sys.argv[3], "w") as f:
    f.write("step\tcpu_fp32_loss\tdevice_loss\trel_diff\tcpu_smoothed\tdevice_smoothed\n")
    for i in range(steps):
        f.write(f"{i + 1}\t{a[i]:.5f}\t{b[i]:.5f}\t{abs(b[i] - a[i]) / a[i]:.2e}\t{sa[i]:.5f}\t{sb[i]:.5f}\n")
first = max(abs(b[i] - a[i]) / a[i] for i in range(min(10, steps)))
late = max(abs(sb[i] - sa[i]) / sa[i] for i in range(steps))
ok = steps >= min(10, int(sys.argv[4])) and first <= 0.02 and late <= 0.03
print(f"{'PASS' if ok else 'FAIL'} {steps} steps: first 10 within {first:.2%} (bound 2%), smoothed curves within {late:.2%} (bound 3%); "
      f"final smoothed loss cpu {sa[-1]:.4f} vs device {sb[-1]:.4f}")
sys.exit(0 if ok else 1)
PY
step "curves compared" 20 "$out/train.txt" python3 "$work/curves.py" "$work/cpu-run/metrics.jsonl" \
     "$work/curve-run/metrics.jsonl" "$out/curves.tsv" "$curve_steps"

# A real run on the device for a fixed wall-clock budget: throughput of the whole loop (data, eval, checkpoints).
step "train on a time budget" 150 "$out/train.txt" "$CRAMJET" train --data "$GPU_CHECK_DATA" --out "$work/run" \
     "${train[@]}" --eval-minutes 0.5 --eval-tokens 32768 --checkpoint-minutes 0 --samples 1 --log-every 10 --device "$dev"
cp "$work/run/metrics.jsonl" "$out/metrics.jsonl" 2>/dev/null
export GPU_CHECK_TRAINED_MODEL=$(ls -d "$work"/run/checkpoints/* 2>/dev/null | grep -v partial | tail -n 1)
step "plan 24h" 60 "$out/train.txt" "$CRAMJET" plan --data "$GPU_CHECK_DATA" --device "$dev" --budget 24h "${plan[@]}"

# Every plug-in check, in name order.
for check in scripts/gpu/*.py scripts/gpu/*.sh; do
  [ -f "$check" ] || continue
  limit=$(sed -n 's/^# gpu-check: timeout=\([0-9]*\).*/\1/p' "$check" | head -n 1)
  name=$(basename "$check")
  export GPU_CHECK_WORK="$work/checks/${name%.*}"
  mkdir -p "$GPU_CHECK_WORK"
  case "$check" in
    *.py) step "$name" "${limit:-60}" "$out/checks.txt" env PYTHONUNBUFFERED=1 python3 "$check" ;;
    *.sh) step "$name" "${limit:-60}" "$out/checks.txt" bash "$check" ;;
  esac
done

{
  echo
  echo "total $(( $(date +%s) - start ))s of a ${budget}s budget; files in $out: $(ls "$out" | tr '\n' ' ')"
} >> "$out/summary.txt"
python3 - "$out/bench.jsonl" >> "$out/summary.txt" <<'PY' 2>&1
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    k = r.get("bench")
    if k == "train_step": print(f"bench train step: {r['tokens_per_s']:,.0f} tokens/s, {r['seconds_per_step'] * 1e3:.1f} ms/step")
    if k == "mfu": print(f"bench MFU: {r['mfu_nominal']:.1%} of the nominal bf16 peak, {r['mfu_measured_ceiling']:.1%} of the measured GEMM ceiling")
    if k == "gemm" and "nominal_peak_gflops" in r: print(f"bench GEMM ceiling: {r['gflops'] / 1e3:.0f} TFLOP/s")
    if k == "kernels": print("bench split: " + ", ".join(f"{a[:-3]} {b:.1f}" for a, b in r.items() if a.endswith("_ms")) + " (ms)")
    if k == "memory" and "device_peak_bytes" in r: print(f"bench memory: {r['device_peak_bytes'] / 1e9:.2f} GB peak on the device")
    if k == "graphs": print(f"bench CUDA graphs: {r['replays']} steps replayed, {r['captures']} captured" + (f"; {r['off']}" if "off" in r else ""))
PY
cat "$out/summary.txt"
grep -q FAIL "$out/summary.txt" && exit 1
exit 0
