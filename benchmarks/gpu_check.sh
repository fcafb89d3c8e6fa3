#!/bin/bash
# A lent GPU machine's checks in one call, most important first; every stage is bounded by what is
# left of BUDGET seconds, so the results written so far always come back (packed in OUTDIR/gpu.tgz).
# usage: bash benchmarks/gpu_check.sh BUDGET_S OUTDIR [DATA_DIR] [stages...]
# stages (default: env doctor bench targets trace32 trace64 modes): env, doctor, bench (torch + jax,
# best and plain modes, real data), targets, trace32/trace64 (parity traces on the GPU), modes (torch's
# other modes), graphs (torch cuda_graph only), tracegraph, targets2, compile, nolayout (compile with
# TORCHINDUCTOR_LAYOUT_OPTIMIZATION=0), rest (bf16/channels_last of the 64x64 models).
# DATA_DIR holds mnist/, lfw/, celeba/ as in ../shared/data. DEV=cpu with RUNOPTS/TRACEOPTS/
# TARGETOPTS="--steps 2 ..." rehearses the whole script on a CPU first.
set -u
export PYTHONUNBUFFERED=1
BUDGET=${1:-420}; O=${2:-/tmp/out}; DATA=${3:-.gpu/data}; shift 3 || true
STAGES=${*:-env doctor bench targets trace32 trace64 modes}
PY=${PY:-python3}; DEV=${DEV:-cuda}; RUNOPTS=${RUNOPTS:-}; TRACEOPTS=${TRACEOPTS:-}; TARGETOPTS=${TARGETOPTS:-}
R=/tmp/gpu; rm -rf $R; mkdir -p $R $O
end=$((SECONDS+BUDGET))
left() { echo $((end-SECONDS-20)); }   # 20 s kept for packing
stage() {
  local t; t=$(left)
  if [ "$t" -lt 15 ]; then echo "=== SKIP (no time): $*"; return; fi
  echo "=== $* (limit ${t}s) $(date +%T)"
  timeout -k 5 "$t" "$@"; echo "=== rc=$? $(date +%T)"
}
want() { [[ " $STAGES " == *" $1 "* ]]; }
{
if want env; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.sm --format=csv || true
  $PY -c "import torch,jax,flax,optax,numpy; print('torch',torch.__version__,torch.version.cuda,torch.backends.cudnn.version(),torch.cuda.is_available()); print('jax',jax.__version__,jax.devices(),'flax',flax.__version__,'optax',optax.__version__,'numpy',numpy.__version__)"
fi
want doctor && stage $PY -m benchmarks doctor -o $R
want bench && stage $PY -m benchmarks run -b torch jax --device $DEV --mode best,plain --data real --data-dir "$DATA" \
  -o $R/bench --timeout 90 $RUNOPTS
want targets && stage $PY -m benchmarks targets -d $DEV -o $R $TARGETOPTS
want trace32 && stage $PY -m benchmarks trace -b torch jax --device $DEV -o $R/traces $TRACEOPTS
want trace64 && stage $PY -m benchmarks trace -b torch jax --device $DEV --dtype float64 -o $R/traces $TRACEOPTS
want modes && stage $PY -m benchmarks run -b torch --device $DEV --mode channels_last bf16 compile --data real \
  --data-dir "$DATA" -o $R/bench --timeout 120 $RUNOPTS
want graphs && stage $PY -m benchmarks run -b torch --device $DEV --mode cuda_graph --data real --data-dir "$DATA" \
  -o $R/bench --timeout 60 $RUNOPTS
want tracegraph && stage $PY -m benchmarks trace -b torch --mode cuda_graph --device $DEV -o $R/traces $TRACEOPTS
want targets2 && stage $PY -m benchmarks targets -d $DEV -o $R $TARGETOPTS
want compile && stage $PY -m benchmarks run -b torch --device $DEV --mode compile --data real --data-dir "$DATA" \
  -o $R/bench --timeout 90 $RUNOPTS
want nolayout && TORCHINDUCTOR_LAYOUT_OPTIMIZATION=0 stage $PY -m benchmarks run -b torch --device $DEV --mode compile \
  -m paddle-dcgan28 mxnet-dcgan64 --data real --data-dir "$DATA" -o $R/nolayout --timeout 90 $RUNOPTS
want rest && stage $PY -m benchmarks run -b torch --device $DEV --mode bf16 channels_last \
  -m mxnet-dcgan64 gluon-lfw-dcgan pytorch-celeba-dcgan --data real --data-dir "$DATA" -o $R/bench --timeout 60 $RUNOPTS
} 2>&1 | tee $O/log.txt
find $R -name '*.npz' -delete
tar czf $O/gpu.tgz -C /tmp gpu
ls -la $O
