#!/usr/bin/env bash
# The GPU-only checks of issues #3 and #5, prepared to run in one device call (about 5 minutes):
#
#   mkdir -p .carry/shared/data/hd_photos/landscape      # /.carry/ is git-ignored
#   cp ../shared/data/hd_photos/landscape/lomiri_Bridge_by_Sander_Klootwijk.jpg .carry/shared/data/hd_photos/landscape/
#   device run: command "bash bench/gpu_checks.sh", carry [".carry"], timeout_s 540
#
# It prints the device, runs the tests that need CUDA (the CUDA-graph search, tiles cut on the
# device against the CPU), then the benchmarks: the Siamese G on a 3840x2160 photo with
# whole-photo statistics (bfloat16, channels_last, with and without torch.compile; compiled
# and eager pictures compared) and with plain tiles, and bench/progan.py speed (200 search
# steps at 64² and 128², 1 and 16 starts, a 150-frame interpolation). Everything printed is also
# in $OUT/gpu_checks.log. For a dry run on the CPU, SIZE (default 3840x2160) shrinks the photo and
# PROGAN_ARGS adds options to bench/progan.py (SIZE=320x180 PROGAN_ARGS="--resolutions 16 --steps 5").
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_checks}
SIZE=${SIZE:-3840x2160}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 STYLEGAN_LIB_SHARED=${STYLEGAN_LIB_SHARED:-$PWD/.carry/shared}
PY=${PYTHON:-python3}
PHOTO=examples/content_picos_de_europa.jpg
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
    $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    $PY -m pytest -q -p no:cacheprovider -rs tests/test_latent.py tests/test_instnorm.py -k "cuda or gpu"
    for options in "--norm image --compile" "--norm image" "--norm tile"; do
        # shellcheck disable=SC2086  # the options are words
        $PY bench/translate.py $PHOTO --size "$SIZE" --method siamese --dtype bfloat16 --channels-last $options \
            --model-only --repeat 5
    done
    # shellcheck disable=SC2086
    $PY bench/progan.py speed --json "$OUT/progan_speed.json" --out "$OUT/gif" --repeats 3 ${PROGAN_ARGS:-}
} 2>&1 | tee "$OUT/gpu_checks.log"
