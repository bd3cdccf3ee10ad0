#!/usr/bin/env bash
# gpu-check: timeout=90
# Issue 16's check on a GPU: every collective (all-reduce sum and mean, reduce-scatter, all-gather, broadcast,
# barrier, the host reduction; f32 and bf16; in place and not) through the real libnccl.so.2 in a world of one
# GPU, queued on the CUDA backend's stream, with exact expected results (`cramjet selftest --collectives`). Two
# ranks on one GPU are not supported by NCCL, so several ranks wait for a machine with several GPUs. In a dry run
# (cpu) the same checks run on Open MPI in a world of one, skipped where Open MPI is not installed.
set -uo pipefail
if [ "$GPU_CHECK_DEVICE" = cpu ] && ! ldconfig -p 2>/dev/null | grep -q 'libmpi\.so'; then
  echo "nccl_collectives: skipped in the dry run: Open MPI is not installed (scripts/setup-openmpi.sh)"
  exit 77
fi
"$CRAMJET" selftest --collectives --device "$GPU_CHECK_DEVICE"
