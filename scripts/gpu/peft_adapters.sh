#!/usr/bin/env bash
# gpu-check: timeout=120
# PEFT check (issue 12): adapters PEFT itself makes over the GPU run's final checkpoint — LoRA on c_attn, c_proj
# and c_fc with random B, prompt tuning, prefix tuning — give in Cramjet the logits PEFT computes, through
# scripts/peft_check.py. Exit 77 where the machine's Python lacks torch, transformers or peft (the dry run here).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ -n "${GPU_CHECK_TRAINED_MODEL:-}" ] || { echo "peft: skipped: the training step left no checkpoint"; exit 77; }
python3 -c "import torch, transformers, peft" 2>/dev/null || { echo "peft: skipped: python3 lacks torch, transformers or peft"; exit 77; }
# A plain model directory: the checkpoint's weights and config (not its manifest and optimizer state) and the run's
# tokenizer, which peft_check.py expects beside them.
base="$GPU_CHECK_WORK/base"
mkdir -p "$base"
cp "$GPU_CHECK_TRAINED_MODEL/model.safetensors" "$GPU_CHECK_TRAINED_MODEL/config.json" "$base/"
tok="$GPU_CHECK_TRAINED_MODEL/tokenizer.json"
[ -f "$tok" ] || tok="$(dirname "$(dirname "$GPU_CHECK_TRAINED_MODEL")")/tokenizer.json"
cp "$tok" "$base/"
python3 "$root/scripts/peft_check.py" --cramjet "$CRAMJET" --model "$base"
