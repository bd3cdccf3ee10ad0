#!/usr/bin/env bash
# Installs Debian's PyTorch 1.13 with OpenMP OpenBLAS, the reference that scripts/torch-mlm-bench.py times against
# `cramjet bench` (docs/ENCODER.md). Not needed by the tests. Run as root (or with sudo) on Debian 12.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-torch libopenblas0-openmp
/usr/bin/python3 -c "import torch; print('torch', torch.__version__, 'works')"
