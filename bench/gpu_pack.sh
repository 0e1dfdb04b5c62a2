#!/usr/bin/env bash
# Get the working tree under the device tool's 64 MiB before bench/gpu_session.sh's one call.
#
#   bash bench/gpu_pack.sh prepare   # build .carry/ (once) and move the weights the call does not need aside
#   device run: command "bash bench/gpu_session.sh", carry [".carry"], timeout_s 600
#   bash bench/gpu_pack.sh restore   # put them back (always, also when the call failed)
#   bash bench/gpu_pack.sh size      # what would travel now, in MiB
#
# What travels is the tracked and untracked-not-ignored files plus the carried .carry/ (git-ignored):
#   .carry/vangogh.zip   paintings (WebP q90, 10.9 MB) and photos (q75, 9.9 MB) of the training splits
#   .carry/faces.zip     the 64x64 training and held-out faces (15.7 MB), only with PROGAN_S > 0
#   .carry/vgg19-relu4_1.safetensors  the Caffe VGG19 through relu4_1 (7.0 MB; the whole is 40 MB)
#   .carry/vgg19-relu5_2.zip  Gatys' VGG19, through relu5_2 (30.6 MB), bzip2-zipped: 15.0 MB. Only
#       with PROGAN_S = 0 (the default): with the faces as well the call would carry 74 MiB of 64, so
#       `PROGAN_S=... bash bench/gpu_pack.sh prepare` leaves it out and the session skips Gatys
#   .carry/shared/data/...  the HD photo the CUDA tiling test reads; Gatys' content and style images
# The tracked weights of models the call neither trains from nor tests (AdaIN, Magenta, CycleGAN,
# the naive Siamese GAN, the domain classifier, the DCGAN: 53 MB) and the committed galleries wait in
# $STASH (default ../gpu_stash, outside the tree) and come back with `restore` (git checkout as
# a fallback, since they are committed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[[ $PY == */* && $PY != /* ]] && PY=$PWD/$PY  # a relative path must survive the cd below
SHARED=${SHARED:-../shared}
STASH=${STASH:-../gpu_stash}
LIMIT_MIB=64
ASIDE=(
    checkpoints/adain-decoder/model.safetensors
    checkpoints/magenta-arbitrary/model.safetensors
    checkpoints/cyclegan-vangogh/model.safetensors
    checkpoints/siamese-vangogh-naive/model.safetensors
    checkpoints/domain-classifier/model.safetensors
    checkpoints/dcgan-faces/model.safetensors
)
mapfile -t PICTURES < <(git ls-files 'checkpoints/*.jpg' 'checkpoints/*.png')

size() {  # bytes that would travel: present tracked + untracked-not-ignored files, and .carry/
    local tree carry
    tree=$(git ls-files -co --exclude-standard -z | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
    carry=$(du -sb .carry 2>/dev/null | cut -f1)
    echo $((tree + ${carry:-0}))
}

case "${1:-}" in
prepare)
    mkdir -p .carry
    if [ ! -f .carry/vangogh.zip ]; then
        $PY bench/pack_images.py "$SHARED/data/vangogh2photo/paintings_train" .carry/vangogh.zip --quality 90
        $PY bench/pack_images.py "$SHARED/data/vangogh2photo/photos_train" .carry/vangogh.zip --quality 75
    fi
    if ((${PROGAN_S:-0} > 0)); then  # the faces, or Gatys' VGG19: both would not fit (rebuilt when needed)
        rm -f .carry/vgg19-relu5_2.zip
        if [ ! -f .carry/faces.zip ]; then
            $PY bench/pack_images.py "$SHARED/data/faces/train" .carry/faces.zip --face
            $PY bench/pack_images.py "$SHARED/data/faces/heldout" .carry/faces.zip --face
        fi
    else
        rm -f .carry/faces.zip
        if [ ! -f .carry/vgg19-relu5_2.zip ]; then
            mkdir -p .carry/tmp
            $PY bench/pack_vgg.py "$SHARED/weights/vgg19-caffe.safetensors" .carry/tmp/vgg19-relu5_2.safetensors \
                --through relu5_2
            (cd .carry/tmp && $PY -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_BZIP2); z.write(sys.argv[2]); z.close()" \
                ../vgg19-relu5_2.zip vgg19-relu5_2.safetensors)
            rm -rf .carry/tmp
        fi
    fi
    [ -f .carry/vgg19-relu4_1.safetensors ] ||
        $PY bench/pack_vgg.py "$SHARED/weights/vgg19-caffe.safetensors" .carry/vgg19-relu4_1.safetensors
    for photo in hd_photos/landscape/lomiri_Bridge_by_Sander_Klootwijk.jpg hd_photos/landscape/plasma_Path.jpg \
        style_test/style_vangogh_hd/starry-night-over-the-rhone.jpg; do
        mkdir -p ".carry/shared/data/$(dirname $photo)"
        cp -n "$SHARED/data/$photo" ".carry/shared/data/$photo"
    done
    mkdir -p "$STASH"
    for path in "${ASIDE[@]}" "${PICTURES[@]}"; do
        if [ -f "$path" ]; then
            mkdir -p "$STASH/$(dirname "$path")"
            mv "$path" "$STASH/$path"
        fi
    done
    bytes=$(size)
    echo "travels: $((bytes / 1048576)) MiB of $LIMIT_MIB (set aside in $STASH: ${#ASIDE[@]} weights, ${#PICTURES[@]} pictures)"
    ((bytes < LIMIT_MIB * 1048576)) || { echo "over the limit: run '$0 restore' and carry less" >&2; exit 1; }
    ;;
restore)
    for path in "${ASIDE[@]}" "${PICTURES[@]}"; do
        if [ -f "$STASH/$path" ] && [ ! -f "$path" ]; then mv "$STASH/$path" "$path"; fi
    done
    git checkout -- "${ASIDE[@]}" "${PICTURES[@]}"  # anything the stash lost comes back from git
    git diff --quiet -- checkpoints && echo "restored: checkpoints/ as committed"
    ;;
size)
    bytes=$(size)
    echo "travels: $((bytes / 1048576)) MiB of $LIMIT_MIB"
    ;;
*)
    echo "usage: $0 prepare|restore|size" >&2
    exit 2
    ;;
esac
