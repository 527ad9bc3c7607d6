#!/usr/bin/env bash
# bn_layer_ab.py's four variants under the AVX2 cap, interleaved twice, into bn_layer_ab.txt.
# PYTHON: an interpreter with TensorFlow and torch (default python).
D=$(cd "$(dirname "$0")" && pwd)
export ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 TF_ENABLE_ONEDNN_OPTS=1 TF_CPP_MIN_LOG_LEVEL=2
{ echo "# $(date -u +%FT%TZ) $(lscpu | grep 'Model name' | sed 's/  */ /g')"
  for pass in 1 2; do
    for v in fused composed composed_xla torch; do
      ${PYTHON:-python} "$D/bn_layer_ab.py" $v 2>/dev/null | grep round
    done
  done; } | tee "$D/bn_layer_ab.txt"
