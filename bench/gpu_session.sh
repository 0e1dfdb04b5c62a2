#!/usr/bin/env bash
# Every GPU-only step of the open issues in ONE device call, in order of need. A session has 15
# minutes of device time, the machine's start included, and one command may run 10 minutes: so
# one call of at most 600 s, whose steps each get what is left of BUDGET_S (default 585 s) and are
# skipped when nothing is. Each step packs its results into $OUT as it ends (at most 8 files come
# back, 16 MiB each), so a call cut short still brings back what finished. Here, around the call:
#
#   bash bench/gpu_pack.sh prepare   # .carry/: Van Gogh and face packs, VGG19 through relu4_1; weights aside
#   device run: command "bash bench/gpu_session.sh", carry [".carry"], timeout_s 600
#   bash bench/gpu_pack.sh restore
#
# 1. Siamese GAN, Van Gogh (issue #21): the CPU recipe of siamese-vangogh v4 (Siamese D of heads
#    over frozen VGG19 relu2_1-relu4_1 seeing the crops at half size, VGG19 content term, bilinear
#    upsampling, EMA of G shipped) at batch 16, warm started from checkpoints/siamese-vangogh, for
#    SIAMESE_S seconds (default 200)
#    -> $OUT/siamese.tar: model.safetensors + config.json (G_ema), log.csv, the last sample grid
# 2. CycleGAN, Van Gogh (#21): resize-convolution upsampling (no checkerboard; Odena et al. 2016),
#    G_AB warm started from checkpoints/cyclegan-vangogh (a transposed-convolution G is converted),
#    G_BA and both D afresh, EMA of G_AB shipped, batch 4 at 256 px, 2,400 steps with the lr decaying
#    from step 1,200, stopped after CYCLEGAN_S seconds (default 170) -> $OUT/cyclegan.tar
# 3. ProGAN faces (#22), only with PROGAN_S > 0 (default 0: the faces would leave Gatys' VGG19 at
#    home, see bench/gpu_pack.sh): progan-faces v3's recipe (non-saturating loss, batch 64, Adam 5e-3
#    with betas (0, 0.99), EMA 0.999, DiffAugment color + translation) at 160 channels a stage instead
#    of 128 -> $OUT/progan.tar, then bench/progan.py quality on it (closest-latent PSNR)
#    -> $OUT/progan_quality.json
# 4. bench/translate.py (#25): the Siamese G on a 3840x2160 photo, whole-photo statistics,
#    bfloat16 + channels_last, compiled; printed to the log
# 5. The tests that need CUDA (the CUDA-graph search; tiles cut on the device against the CPU).
# 6. bench/progan.py speed (200 search steps at 64² and 128², CUDA graphs, interpolation)
#    -> $OUT/progan_speed.json
# 7. bench/nst.py (#25): Gatys, the article's settings, 500 steps at 512x320 and 1920x1080 (plasma_Path +
#    starry-night-over-the-rhone, real Caffe VGG19 through relu5_2 from $NST_VGG): the eager float32
#    reference loop, then stylize() with its CUDA graph in bfloat16 + channels_last, then the graph in
#    float32; time, peak memory, loss against the reference's -> $OUT/nst_speed.json. Skipped when
#    bench/gpu_pack.sh left the weights home (they travel only with PROGAN_S = 0, see there)
# 8. Data-parallel training (#26), CUDA only: a tiny CycleGAN for 20 steps under torchrun, NCCL, one
#    process per GPU (DDP_GPUS, default: all nvidia-smi lists; on one GPU the process group alone),
#    global batch 2 per GPU; printed to the log
# Everything printed is in $OUT/gpu_session.log. tests/test_bench.py runs it through on the CPU
# with tiny settings (the *_ARGS variables: extra options, the last of a repeated option wins).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_session}
WORK=${WORK:-runs/gpu_session_work}  # what does not come back (unpacked data, run folders with resume state)
BUDGET_S=${BUDGET_S:-585}
SIAMESE_S=${SIAMESE_S:-200}
CYCLEGAN_S=${CYCLEGAN_S:-170}
PROGAN_S=${PROGAN_S:-0}
KIMG=${KIMG:-20}
SIZE=${SIZE:-3840x2160}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
VANGOGH=${VANGOGH:-.carry/vangogh.zip}  # bench/pack_images.py: paintings_train/*.webp, photos_train/*.webp
FACES=${FACES:-.carry/faces.zip}        # bench/pack_images.py --face: train/*.webp, heldout/*.webp
VGG=${VGG:-.carry/vgg19-relu4_1.safetensors}  # bench/pack_vgg.py
NST_VGG=${NST_VGG:-.carry/vgg19-relu5_2.zip}  # bench/gpu_pack.sh: VGG19 through relu5_2 zipped, or a .safetensors
TRANSLATE=${TRANSLATE:-"--norm image --compile"}  # bench/translate.py variants, ';'-separated
PHOTO=examples/content_picos_de_europa.jpg
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 STYLEGAN_LIB_SHARED=${STYLEGAN_LIB_SHARED:-$PWD/.carry/shared}

step() {  # step LIMIT_S COMMAND...: COMMAND under a timeout of LIMIT_S or what is left, if any is
    local limit=$1 left=$((BUDGET_S - SECONDS))
    shift
    ((left < limit)) && limit=$left
    if ((limit < 10)); then
        echo "== skipped, ${left} s left: $*"
        return 1
    fi
    echo "== at ${SECONDS} s, for at most ${limit} s: $*"
    timeout -k 5 "$limit" "$@"
    local rc=$?
    echo "== rc ${rc} at ${SECONDS} s"
    return $rc
}

pack() {  # pack NAME RUN: the run's shipped weights, config, log and last sample grid -> $OUT/NAME.tar
    local name=$1 run=$2 sample
    [ -f "$run/model.safetensors" ] || { echo "== $name: no model to bring back"; return 1; }
    sample=$(find "$run/samples" -name 'step_*.png' 2>/dev/null | sort | tail -1)
    tar -cf "$OUT/$name.tar" -C "$run" model.safetensors config.json log.csv ${sample:+"samples/$(basename "$sample")"}
    echo "== $name: $(du -h "$OUT/$name.tar" | cut -f1) packed; last log rows:"
    head -1 "$run/log.csv" && tail -2 "$run/log.csv"
}

# shellcheck disable=SC2086  # the *_ARGS variables are lists of words
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
    $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    rm -rf "$WORK/vangogh" && $PY -m zipfile -e "$VANGOGH" "$WORK/vangogh"
    FOLDERS="--domain-a $WORK/vangogh/photos_train --domain-b $WORK/vangogh/paintings_train"

    step $((SIAMESE_S + 60)) $PY -m stylegan_lib train siamese $FOLDERS --out "$WORK/siamese" \
        --steps 1000000 --batch 16 --tile 64 --ngf 32 --n-blocks 4 --ndf 64 --lr-g 1e-4 --lr-d 4e-4 \
        --identity-weight 0 --bf16 --d-backbone vgg19 --content-weight 1 --vgg-path "$VGG" \
        --upsample bilinear --d-scale 0.5 \
        --init-g checkpoints/siamese-vangogh --ema-beta 0.999 --device "$DEVICE" \
        --log-every 20 --sample-every 500 --checkpoint-every 500 --time-limit-s "$SIAMESE_S" -q ${SIAMESE_ARGS:-}
    pack siamese "$WORK/siamese"

    step $((CYCLEGAN_S + 60)) $PY -m stylegan_lib train cyclegan $FOLDERS --out "$WORK/cyclegan" \
        --steps 2400 --decay-start 1200 --batch 4 --crop 256 --identity-weight 5 --upsample resize --bf16 \
        --init-g checkpoints/cyclegan-vangogh --ema-beta 0.998 \
        --device "$DEVICE" --log-every 20 --sample-every 500 --checkpoint-every 500 \
        --time-limit-s "$CYCLEGAN_S" -q ${CYCLEGAN_ARGS:-}
    pack cyclegan "$WORK/cyclegan"

    if ((PROGAN_S > 0)); then
        rm -rf "$WORK/faces" && $PY -m zipfile -e "$FACES" "$WORK/faces"
        step $((PROGAN_S + 60)) $PY -m stylegan_lib train progan --data "$WORK/faces/train" --crop-box "" \
            --out "$WORK/progan" --img-resolution 64 --fmap-base 4096 --fmap-max 160 --loss ns --batch 64 \
            --batch-per-res "" --lr 5e-3 --beta1 0 --beta2 0.99 --ema-beta 0.999 --kimg-per-phase "$KIMG" \
            --kimg-final 10000 --augment color,translation \
            --device "$DEVICE" --sample-every 1000 --checkpoint-every 1000 \
            --time-limit-s "$PROGAN_S" --quiet ${PROGAN_TRAIN_ARGS:-}
        pack progan "$WORK/progan"
        step 120 $PY bench/progan.py quality --device "$DEVICE" --weights "$WORK/progan" --faces "$WORK/faces" \
            --settings 0.01:1,0.05:8:256 --json "$OUT/progan_quality.json" ${QUALITY_ARGS:-}
    fi

    IFS=';' read -ra variants <<<"$TRANSLATE"
    for options in "${variants[@]}"; do
        step 90 $PY bench/translate.py $PHOTO --size "$SIZE" --method siamese --dtype bfloat16 --channels-last \
            $options --model-only --repeat 5 --device "$DEVICE"
    done
    step 90 $PY -m pytest -q -p no:cacheprovider -rs tests/test_latent.py tests/test_instnorm.py -k "cuda or gpu"
    step 90 $PY bench/progan.py speed --device "$DEVICE" --json "$OUT/progan_speed.json" --out "$WORK/gif" \
        --repeats 2 ${PROGAN_ARGS:-}
    if [ -f "$NST_VGG" ]; then
        nst_vgg=$NST_VGG
        if [[ $NST_VGG == *.zip ]]; then
            rm -rf "$WORK/nst_vgg" && $PY -m zipfile -e "$NST_VGG" "$WORK/nst_vgg"
            nst_vgg=$(find "$WORK/nst_vgg" -name '*.safetensors' | head -1)
        fi
        step 90 $PY bench/nst.py --weights "$nst_vgg" --data "$STYLEGAN_LIB_SHARED/data" --steps 500 \
            --sizes 512x320 1920x1080 --variants reference graph-bf16 graph --device "$DEVICE" \
            --json "$OUT/nst_speed.json" ${NST_ARGS:-}
    else
        echo "== Gatys skipped: no $NST_VGG (bench/gpu_pack.sh carries it only with PROGAN_S = 0)"
    fi
    if [ "$DEVICE" = cuda ]; then
        GPUS=${DDP_GPUS:-$(nvidia-smi -L | grep -c '^GPU')}
        step 90 $PY -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m stylegan_lib train cyclegan \
            $FOLDERS --out "$WORK/ddp" --steps 20 --batch $((2 * GPUS)) --crop 128 --ngf 16 --n-blocks 2 --ndf 16 \
            --bf16 --device cuda --log-every 5 --sample-every 20 --checkpoint-every 20 -q &&
            tail -2 "$WORK/ddp/log.csv"
    fi
    echo "== done at ${SECONDS} s"
} 2>&1 | tee "$OUT/gpu_session.log"
