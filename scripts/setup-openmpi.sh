#!/usr/bin/env bash
# Installs Open MPI from Debian (openmpi-bin: mpirun; libopenmpi-dev: libmpi.so and the headers), which the
# data-parallel tests use to run two CPU ranks on this machine. Cramjet binds libmpi through FFM at run time, so
# nothing of ours is compiled against it; the tests skip when mpirun or libmpi is absent.
set -euo pipefail
if command -v mpirun >/dev/null && ls /usr/lib/x86_64-linux-gnu/libmpi.so* >/dev/null 2>&1; then
  echo "setup-openmpi: $(mpirun --version 2>/dev/null | head -n 1) already installed"
  exit 0
fi
command -v apt-get >/dev/null || { echo "setup-openmpi: apt-get not found; install Open MPI (mpirun, libmpi) by hand" >&2; exit 2; }
as_root=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup-openmpi: needs root (or sudo) to apt-get install" >&2; exit 2; }
  as_root=(sudo)
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends openmpi-bin libopenmpi-dev >/dev/null
mpirun --version | head -n 1
