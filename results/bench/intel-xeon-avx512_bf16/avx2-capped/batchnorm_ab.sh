#!/usr/bin/env bash
# ResNet-20 under the AVX2 cap, rescore's fused BN (oneDNN's kernel once oneDNN is on) against
# Keras' composed BN (moments + normalisation, TensorFlow's Eigen ops), each beside PyTorch in
# one bench run. Run from anywhere: bash batchnorm_ab.sh. PYTHON: the interpreter with
# rescore's dependencies and torch (default python); PAUSE: a command taking stop|cont to
# freeze other work on the machine meanwhile (default: none).
D=$(cd "$(dirname "$0")" && pwd)
${PAUSE:-true} stop
trap '${PAUSE:-true} cont' EXIT
export RESCORE_DATA=$HOME/.cache/rescore ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
B() { OUT=$1; shift; echo "== $(date -u +%T) $*"; PYTHONPATH=$D/../../../../src ${PYTHON:-python} -m rescore.bench "$@" bench.out=$OUT 2>&1 | grep -v "^I0000\|^W0000\|cuda\|WARNING\|To enable\|rescore.train.logging"; }
B $D/batchnorm_ab_keras.json model=resnet20 model.batchnorm=keras bench.rounds=3 bench.keras=false
B $D/batchnorm_ab_fused.json model=resnet20 bench.rounds=3 bench.keras=false
echo "== done $(date -u +%T)"
