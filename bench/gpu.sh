#!/usr/bin/env bash
# Score-mode throughput and model FLOP utilisation of a Qwen2.5-0.5B-shaped guard (random weights)
# served by Triton on this machine's NVIDIA GPU. No internet needed: run from the repository root
# after `make venv`. Extra arguments go to `guardstream bench gpu`, e.g. to test the script on CPU:
#   bash bench/gpu.sh --device cpu --dtype float32 --small --seconds 2 --batches 8,16 --concurrency 2
# Prints BENCH lines gpu_items_per_s, gpu_tokens_per_s and gpu_mfu; the report is bench/gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/guardstream ]; then
  echo "no virtualenv: run 'make venv' first" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec timeout 290 .venv/bin/guardstream bench gpu "$@"
