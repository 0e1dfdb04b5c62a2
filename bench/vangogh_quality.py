"""Van Gogh translation quality: figures that tell a good translation from a bad one (issue #21).

    python bench/vangogh_quality.py --model siamese-vangogh --old git:6a1f171 --new checkpoints/siamese-vangogh
    python bench/vangogh_quality.py --all --old git:6a1f171      # the three shipped models, new = checkpoints/<name>
    python bench/vangogh_quality.py --check                      # the committed eval.json files meet the targets?

Writes ``checkpoints/<name>/eval.json`` (every figure, old and new measured in the same run,
date, device, torch, targets) and ``checkpoints/<name>/gallery.jpg`` (before / old / new). A
model is a folder holding model.safetensors (+ config.json), a .safetensors file (config.json
beside it, else the registry's defaults), or ``git:REV``: ``checkpoints/<name>/`` as committed
at REV, e.g. the previous release. The held-out photos go through G as the app runs them
(``translate.plan_translation`` with the whole photo's statistics, ``norm="image"``).

Figures (all on the 100 held-out photos of vangogh2photo, 256 px, never trained on):

* **style gap closed** = 1 - KID(translated photos, paintings) / KID(the same photos
  untranslated, paintings), per VGG19 layer: ``relu5_1`` (what the style depicts: motifs,
  colours) and ``relu3_1`` (texture: strokes), spatial means at 128 px (``stylegan_lib.kid``),
  against all 400 Van Gogh paintings (train + held-out). 0: as far from Van Gogh as the photos
  were; 1: as close as another draw of paintings. The std is over 50 random subsets of 100
  paintings, each compared with both sets (paired), so it is the gap's own spread.
* **noise**: the mean over images of the energy at the periods of G's two 2x upsamplings
  beyond what the spectral neighbourhood predicts there, per mille of the image's energy; see
  :func:`spectral_peaks`. Checkerboards (transposed convolutions) and the blotchy 2- and 4-px
  speckle of nearest-neighbour upsampling put energy at exactly those frequencies; natural
  images (and the paintings' brush strokes, however busy) do not, beyond their JPEG blocks.
  Read it beside the paintings' and the photos' own values (``references``).
* **structure**: ``domain.structure_preservation`` (Sobel edge correlation with the photo).
* **seams at 4K**: ``tiling.seam_score`` of one HD landscape at 3840x2160 on plain tiles, as
  bench/siamese_eval.py measures it, with the whole photo's statistics (target) and, for the
  Siamese GANs, each tile's own statistics (Combo must beat naive there).
* **style gap closed on Magenta's style embeddings**: the same figure on the 100-d output of
  Magenta's style-prediction network (``stylegan_lib.magenta``, Ghiasi et al. 2017): a network
  that no discriminator here looks through (a D on VGG19 features partly optimises the VGG KID).
* **painting share** of the domain classifier (``checkpoints/domain-classifier``), with how well
  its per-image share separates real paintings from the translations (ROC AUC; 0.5 = not at all).
  Not a target: it gives today's outputs nearly the share of real paintings.

The functions are importable for picking training snapshots, e.g.::

    refs = References.load(data=..., photos=25)          # cached features of the reference sets
    quick_figures(G, method="siamese", model_tile=64, refs=refs)   # gaps, noise, structure on 25 photos

Tensors: images [N, 3, H, W] RGB in [0, 1]; arrays uint8 (H, W, 3).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python bench/<script>.py` from the repo root

from stylegan_lib import kid  # noqa: E402
from stylegan_lib.checkpointing import training_info  # noqa: E402
from stylegan_lib.data import list_images  # noqa: E402
from stylegan_lib.domain import load_domain_classifier, painting_share, structure_preservation  # noqa: E402
from stylegan_lib.images import open_image, pil_to_tensor  # noqa: E402
from stylegan_lib.tiling import seam_score  # noqa: E402
from stylegan_lib.translate import load_generator, plan_translation, translate_image  # noqa: E402

MODELS = {"siamese-vangogh": "siamese", "siamese-vangogh-naive": "siamese-naive", "cyclegan-vangogh": "cyclegan"}
LAYERS = ("relu5_1", "relu3_1")  # content of style, texture
FEATURE_SIDE = 128  # images are resized to this before VGG19 (as stylegan_lib.kid does)
SUBSETS = 50  # random painting subsets for the KID means and stds
UPSAMPLING_PERIODS = (2, 4)  # px: G's two 2x upsamplings (final and first); their harmonics are included
# fixed gallery rows: held-out photos (shown at their own 256 px; not shippable larger) and HD landscapes
GALLERY_PHOTOS = tuple(f"photo_{i:04d}.jpg" for i in (901, 906, 926, 940, 942, 951, 964, 989))
GALLERY_HD = ("lomiri_picosdeeuropa_by_Aitzol_Berasategi.jpg", "lomiri_seeding_by_Clements_Engelhardt.jpg")
GALLERY_HD_SIDE = 1920  # HD rows are translated at this long side (Full HD) ...
GALLERY_CELL = 512  # ... and shown at this width, plus a 1:1 crop of the same width
SEAM_PHOTO = "lomiri_Bridge_by_Sander_Klootwijk.jpg"  # bench/siamese_eval.py's first HD landscape
SEAM_SIZE = (3840, 2160)


@dataclass(frozen=True)
class Targets:
    """Issue #21's targets; every shipped Van Gogh model must meet them."""

    style_gap_relu5_1: float = 0.7  # at least
    style_gap_relu3_1: float = 0.85  # at least
    structure: float = 0.6  # at least
    noise: str = "paintings"  # at most the real paintings' own noise figure
    seam_4k_image: float = 1.05  # at most, whole-photo statistics
    seam_4k_tile: str = "siamese-vangogh < siamese-vangogh-naive"  # per-tile statistics: Combo beats naive


def default_data() -> Path:
    env = os.environ.get("STYLEGAN_LIB_SHARED")
    return (Path(env) if env else REPO.parent / "shared") / "data"


# ----------------------------------------------------------------------------- figures


def as_tensor(images) -> torch.Tensor:
    """PIL images or uint8 (H, W, 3) arrays of one size -> [N, 3, H, W] float32 in [0, 1]."""
    arrays = [np.asarray(im.convert("RGB")) if isinstance(im, Image.Image) else np.asarray(im) for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)


@torch.no_grad()
def vgg_features(vgg, images: torch.Tensor, *, side: int = FEATURE_SIDE, layers=LAYERS, batch: int = 50):
    """{layer: [N, C] float64}: stylegan_lib.kid.vgg_features for several layers in one VGG pass each."""
    out = {layer: [] for layer in layers}
    for chunk in images.split(batch):
        x = torch.nn.functional.interpolate(
            chunk, size=(side, side), mode="bilinear", antialias=True, align_corners=False
        )
        found = vgg(x, list(layers))
        for layer in layers:
            out[layer].append(found[layer].mean(dim=(2, 3)).double())
    return {layer: torch.cat(v) for layer, v in out.items()}


MAGENTA = "magenta_style"  # key of the Magenta style embeddings among the features


@torch.no_grad()
def magenta_features(model, images: torch.Tensor, *, batch: int = 50) -> torch.Tensor:
    """[N, 100] float64: the style embeddings of Magenta's style-prediction network (Ghiasi et al. 2017,
    stylegan_lib.magenta) for ``images`` [N, 3, H, W] in [0, 1], cropped and resized as it was trained:
    a network no discriminator here looks through, so KID on it is not graded by what D optimised."""
    from stylegan_lib.magenta import prepare_style

    out = [
        model.predictor(prepare_style(chunk, model.config.style_size)).flatten(1).double()
        for chunk in images.split(batch)
    ]
    return torch.cat(out)


def image_features(vgg, images: torch.Tensor, *, magenta=None) -> dict:
    """{layer: [N, C]} of :func:`vgg_features` and, with ``magenta`` (the model), {MAGENTA: [N, 100]}."""
    out = vgg_features(vgg, images)
    if magenta is not None:
        out[MAGENTA] = magenta_features(magenta, images)
    return out


def paired_kid(
    paintings: torch.Tensor, *sets: torch.Tensor, subsets: int = SUBSETS, subset_size: int | None = None, seed: int = 0
) -> list[list[float]]:
    """Per-subset unbiased KID of each of ``sets`` [N_k, d] against the same random subsets of ``paintings``.

    The subsets are drawn as ``kid.kernel_distance`` draws them (paintings, then the other set,
    from one generator seeded ``seed``), so each set's mean equals ``kernel_distance``'s; the
    features are scaled by ``kid.feature_scale(paintings)``. Returns [set][subset].
    """
    scale = kid.feature_scale(paintings)
    paintings = paintings.double() / scale
    sets = [s.double() / scale for s in sets]
    size = min(len(paintings), *(len(s) for s in sets)) if subset_size is None else subset_size
    values = [[] for _ in sets]
    for k, s in enumerate(sets):
        gen = torch.Generator().manual_seed(seed)
        for _ in range(subsets):
            i = torch.randperm(len(paintings), generator=gen)[:size]
            j = torch.randperm(len(s), generator=gen)[:size]
            values[k].append(float(kid.mmd2_unbiased(paintings[i], s[j])))
    return values


def gap_closed(kid_translated: list[float], kid_photos: list[float]) -> dict:
    """Style gap closed from paired per-subset KIDs: 1 - mean(translated) / mean(photos), the std of the
    per-subset gaps, and the two KIDs (mean, std)."""
    if len(kid_translated) != len(kid_photos) or len(kid_photos) < 2:
        raise ValueError("need the same number (>= 2) of paired subsets")
    if statistics.mean(kid_photos) <= 0:
        raise ValueError("the untranslated photos are not farther from the paintings than chance: no gap to close")
    per_subset = [1 - t / p for t, p in zip(kid_translated, kid_photos, strict=True)]
    return {
        "gap_closed": 1 - statistics.mean(kid_translated) / statistics.mean(kid_photos),
        "gap_closed_std": statistics.stdev(per_subset),
        "kid_translated": statistics.mean(kid_translated),
        "kid_translated_std": statistics.stdev(kid_translated),
        "kid_photos": statistics.mean(kid_photos),
        "kid_photos_std": statistics.stdev(kid_photos),
    }


def style_gap(translated: dict, photos: dict, paintings: dict, *, subsets: int = SUBSETS, seed: int = 0) -> dict:
    """{layer: gap_closed(...)} from {layer: [N, C]} VGG features of the three sets."""
    out = {}
    for layer in paintings:
        kt, kp = paired_kid(paintings[layer], translated[layer], photos[layer], subsets=subsets, seed=seed)
        out[layer] = gap_closed(kt, kp)
    return out


def _peak_bins(n: int, periods) -> list[int]:
    # DFT bins of the frequencies k / p (k = 0 .. p-1) cycles/px for each period p: the fundamentals and harmonics
    return sorted({round(k * n / p) % n for p in periods for k in range(p)})


def spectral_peaks(
    image, *, periods=UPSAMPLING_PERIODS, box: int = 1, ring: tuple[int, int] = (3, 8)
) -> tuple[float, float]:
    """(excess in per mille of the image's energy, log10 of the mean peak ratio) at the frequencies of ``periods``.

    ``image``: uint8 (H, W, 3) or PIL RGB. Each channel minus its mean, times a 2-D Hann window
    (no leakage from the frame's edges), through a 2-D DFT, channel by channel. A
    pattern repeating every p px in x and/or y (the checkerboard of a stride-2 transposed
    convolution: p = 2, of two of them: p = 4; the 2- and 4-px blocks of nearest-neighbour
    upsampling) puts its energy at the frequencies (k_y / p, k_x / p) cycles/px, k = 0 .. p - 1,
    except (0, 0). At each, the energy in its (2 box + 1)^2 bins (the Hann window's main lobe)
    is compared with what the neighbourhood predicts there: the mean bin of the ring at
    Chebyshev distance ``ring`` (3 to 8 bins: beyond the main lobe, close enough to share the
    spectrum's slope) times the box's bin count. The ring's mean is estimated as its median /
    ln 2 (the median of an exponentially distributed power bin is ln 2 times its mean), which
    other peaks or a bright axis in the ring do not move. Excess: the energy above that
    prediction, summed over the frequencies and channels (negative when below), per mille of the image's total
    (AC) energy, so a faint or blurred pattern counts little. Peak ratio: log10 of the mean of
    peak / prediction (about 0 for the paintings; blind to the pattern's contrast).
    """
    a = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    h, w = a.shape[:2]
    if min(h, w) < 4 * (ring[1] + 1):
        raise ValueError(f"the image is too small for the spectral neighbourhood: {w}x{h}, need >= {4 * (ring[1] + 1)}")
    x = a.astype(np.float64) / 255
    x = (x - x.mean(axis=(0, 1))) * np.outer(np.hanning(h), np.hanning(w))[..., None]
    power = np.abs(np.fft.fft2(x, axes=(0, 1))) ** 2  # (H, W, 3): each channel's bins exponentially distributed
    total = power.sum()
    if total == 0:
        raise ValueError("the image is flat: it has no spectrum to measure")
    offsets = np.arange(-ring[1], ring[1] + 1)
    cheb = np.maximum(*np.meshgrid(np.abs(offsets), np.abs(offsets), indexing="ij"))
    ratios, excess = [], 0.0
    for u in _peak_bins(h, periods):
        for v in _peak_bins(w, periods):
            if u == 0 and v == 0:
                continue
            block = power[np.ix_((u + offsets) % h, (v + offsets) % w)]  # (2 ring + 1, 2 ring + 1, 3)
            expected = np.median(block[cheb >= ring[0]], axis=0) / math.log(2) * (2 * box + 1) ** 2  # (3,)
            peak = block[cheb <= box].sum(axis=0)  # (3,)
            ratios.append(peak.sum() / max(expected.sum(), 1e-30))
            excess += float((peak - expected).sum())
    return float(1000 * excess / total), float(np.log10(np.mean(ratios)))


def periodic_noise(image, **kwargs) -> float:
    """The noise figure of one image: :func:`spectral_peaks`' excess (per mille of its energy at the
    periods of G's upsamplings beyond the spectral neighbourhood). About 0.03 on average for the Van
    Gogh paintings, 0.15 for the photos (regular structures and JPEG blocks put a little there),
    over 1 for a visible checkerboard."""
    return spectral_peaks(image, **kwargs)[0]


def noise_figure(images) -> dict:
    """Mean and std over ``images`` of :func:`periodic_noise`, the per-image values, and the mean peak ratio."""
    peaks = [spectral_peaks(im) for im in images]
    values = [p[0] for p in peaks]
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "peak_ratio_log10": statistics.mean(p[1] for p in peaks),
        "values": values,
    }


def roc_auc(positives, negatives) -> float:
    """P(a random positive scores above a random negative), ties counting half (Mann-Whitney U / n m)."""
    if not positives or not negatives:
        raise ValueError("need at least one value on each side")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def per_image_share(classifier, images) -> list[float]:
    """The domain classifier's painting share of each image (uint8 arrays or PIL) on its own."""
    return [painting_share(classifier, as_tensor([im])) for im in images]


def structure(photos, translated) -> float:
    """Mean of domain.structure_preservation over (photo, translation) pairs."""
    pairs = zip(photos, translated, strict=True)
    return statistics.mean(structure_preservation(as_tensor([a]), as_tensor([b])) for a, b in pairs)


# ----------------------------------------------------------------------------- reference sets


@dataclass
class References:
    """The sets every model is compared with, and their own figures (computed once per run, cached on disk).

    ``photos``: the held-out photos (PIL, 256 px); ``features``: {"photos"|"paintings": {layer: [N, C]}};
    ``noise``: {"photos"|"paintings": noise_figure}; ``shares``: per-image painting shares.
    """

    photos: list
    features: dict
    noise: dict
    shares: dict
    vgg: object = field(repr=False, default=None)
    classifier: object = field(repr=False, default=None)
    magenta: object = field(repr=False, default=None)  # None: no Magenta figure
    extra: dict = field(default_factory=dict)  # calibration figures (AdaIN)

    @classmethod
    def load(
        cls,
        *,
        data: Path | None = None,
        photos: int = 100,
        cache: Path | None = REPO / "runs" / "vangogh_quality",
        device: str = "cpu",
        vgg_path: str | None = None,
        with_magenta: bool = True,
    ) -> References:
        """The first ``photos`` held-out photos and all 400 paintings (train + held-out) of vangogh2photo."""
        from stylegan_lib.vgg import load_vgg19

        data = data or default_data()
        root = data / "vangogh2photo"
        photo_paths = list_images(root / "photos_heldout")[:photos]
        painting_paths = list_images(root / "paintings_train") + list_images(root / "paintings_heldout")
        if len(photo_paths) < 2 or len(painting_paths) < 2:
            raise ValueError(f"need held-out photos and paintings under {root}")
        if vgg_path is None and (data.parent / "weights" / "vgg19-caffe.safetensors").is_file():
            vgg_path = str(data.parent / "weights" / "vgg19-caffe.safetensors")  # no Hub round trip
        vgg = load_vgg19("caffe", path=vgg_path, device=device)
        classifier = load_domain_classifier(device=device)
        magenta = _load_magenta(device) if with_magenta else None
        photo_images = [open_image(p) for p in photo_paths]
        state = {
            name: _set_figures(paths, vgg=vgg, magenta=magenta, classifier=classifier, cache=cache)
            for name, paths in (("photos", photo_paths), ("paintings", painting_paths))
        }
        features, noise, shares = ({k: v[i] for k, v in state.items()} for i in range(3))
        return cls(photo_images, features, noise, shares, vgg, classifier, magenta)

    def summary(self) -> dict:
        return {
            "photos": len(self.photos),
            "paintings": len(self.shares["paintings"]),
            "noise_photos": _strip(self.noise["photos"]),
            "noise_paintings": _strip(self.noise["paintings"]),
            "painting_share_photos": statistics.mean(self.shares["photos"]),
            "painting_share_paintings": statistics.mean(self.shares["paintings"]),
            **self.extra,
        }


def _set_figures(paths: list[Path], *, vgg, magenta, classifier, cache: Path | None) -> tuple[dict, dict, list[float]]:
    """(VGG features, noise figure, per-image painting shares) of the images at ``paths``; the features
    (the slow part) are cached in ``cache`` under a key of the images' names and sizes and the feature settings."""
    images = [open_image(p) for p in paths]
    key = json.dumps([[(p.name, p.stat().st_size) for p in paths], FEATURE_SIDE, LAYERS, magenta is not None])
    cached = cache / f"set-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt" if cache else None
    if cached is not None and cached.is_file():
        features = torch.load(cached, weights_only=True)["features"]  # tensors and dicts only: no pickled code
    else:
        features = image_features(vgg, as_tensor(images), magenta=magenta)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"features": features}, cached)
    return features, noise_figure(images), per_image_share(classifier, images)


def _load_magenta(device: str):
    """Magenta's model (checkpoints/magenta-arbitrary), or None with a note when it is not available."""
    try:
        from stylegan_lib.magenta import load_magenta_model

        return load_magenta_model(device=device)
    except (ImportError, OSError, ValueError) as exc:  # no module or no weights: the VGG figures still stand
        print(f"no Magenta style-embedding figure: {exc}", file=sys.stderr)
        return None


def _strip(figure: dict) -> dict:
    return {k: v for k, v in figure.items() if k != "values"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- models


@dataclass
class Model:
    G: torch.nn.Module
    method: str  # translate.METHODS key
    model_tile: int
    source: str  # what was asked for (folder, file or git:REV)
    sha256: str  # of the weights file
    config: dict


def load_model(spec: str, *, name: str, device: str = "cpu") -> Model:
    """``spec``: a folder with model.safetensors (+ config.json), a .safetensors file, or ``git:REV``
    (``checkpoints/<name>/`` as committed at REV). ``name``: the registry name (method and defaults)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    path = Path(spec)
    if spec.startswith("git:"):
        path = Path(tempfile.mkdtemp(prefix=f"vangogh_quality_{name}_"))
        for file in ("model.safetensors", "config.json"):
            blob = subprocess.run(
                ["git", "show", f"{spec[4:]}:checkpoints/{name}/{file}"], cwd=REPO, capture_output=True, check=False
            )
            if blob.returncode:
                raise ValueError(f"{spec}: no checkpoints/{name}/{file} there ({blob.stderr.decode().strip()})")
            (path / file).write_bytes(blob.stdout)
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"{spec}: no weights at {weights}")
    config_file = weights.parent / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    method = MODELS[name]
    if (config.get("architecture") == "cyclegan") != (method == "cyclegan"):
        raise ValueError(f"{spec}: config.json says {config.get('architecture')!r}, which is not a {name} model")
    G, model_tile = load_generator(method, path=str(path), device=device)
    return Model(G, method, model_tile, spec, _sha256(weights), config)


def translate_photos(model: Model, images, *, device: str = "cpu") -> list[np.ndarray]:
    """Each image (PIL RGB) as the app translates it: the whole photo's statistics (norm="image")."""
    plan = plan_translation(model.method, model.G, model.model_tile, norm="image", device=device)
    return [translate_image(model.G, im, plan) for im in images]


def seams_4k(model: Model, photo: Image.Image, *, device: str = "cpu") -> dict:
    """Seam scores of ``photo`` (resized to 3840x2160 by the caller) on plain tiles, as bench/siamese_eval.py
    measures them: with the whole photo's statistics, and (Siamese GANs) with each tile's own.

    For each norm: the score on the grid of the tiles used and on the model's own grid, beside the
    photo's own scores on the same grids (about 1.0: a photo never tiled).
    """
    norms = ("image",) if model.method == "cyclegan" else ("image", "tile")
    out = {}
    for norm in norms:
        plan = plan_translation(model.method, model.G, model.model_tile, norm=norm, device=device)
        plain = replace(plan, overlap=0, whole_frame_pixels=0)  # the seams of plain tiles
        start = time.perf_counter()
        result = translate_image(model.G, photo, plain)
        tile = plan.tile
        out[norm] = {
            "tile": tile,
            "model_tile": model.model_tile,
            "seam_score": seam_score(result, tile=tile),
            "seam_score_model_grid": seam_score(result, tile=model.model_tile),
            "photo_seam_score": seam_score(np.asarray(photo), tile=tile),
            "photo_seam_score_model_grid": seam_score(np.asarray(photo), tile=model.model_tile),
            "seconds": time.perf_counter() - start,
        }
    return out


def gap_and_noise(images, *, refs: References) -> tuple[dict, dict]:
    """(style gap closed per layer, noise figure) of a set of images (uint8 arrays or PIL) against ``refs``."""
    found = image_features(refs.vgg, as_tensor(images), magenta=refs.magenta)
    return style_gap(found, refs.features["photos"], refs.features["paintings"]), noise_figure(images)


def share_figure(images, *, refs: References) -> dict:
    """The domain classifier's mean painting share of ``images``, and how well its per-image share tells
    real paintings (higher) from them: ROC AUC, 0.5 = not at all."""
    shares = per_image_share(refs.classifier, images)
    return {"mean": statistics.mean(shares), "auc_paintings_vs_translated": roc_auc(refs.shares["paintings"], shares)}


def quick_figures(
    G=None,
    *,
    method: str | None = None,
    model_tile: int | None = None,
    model: Model | None = None,
    refs: References,
    device: str = "cpu",
) -> dict:
    """Style gap closed (both layers), noise and structure on ``refs.photos``: no seams, no classifier.

    Pass ``model`` or ``G`` with its ``method`` (translate.METHODS key) and ``model_tile``. For
    picking training snapshots: with ``References.load(photos=25)`` it translates a quarter of the
    photos and skips the 4K seams. KID over subsets of 25 is much noisier: on 8 photos the shipped
    Siamese GAN scored 0.41 +- 0.24 on relu5_1 against 0.22 on all 100, so compare snapshots on the
    same photos and read the std.
    """
    if model is None:
        if G is None or method is None or model_tile is None:
            raise ValueError("pass model=, or G= with method= and model_tile=")
        model = Model(G, method, model_tile, "in memory", "", {})
    start = time.perf_counter()
    translated = translate_photos(model, refs.photos, device=device)
    seconds_translate = time.perf_counter() - start
    gaps, noise = gap_and_noise(translated, refs=refs)
    return {
        "style_gap": gaps,
        "noise": _strip(noise),
        "structure": structure(refs.photos, translated),
        "seconds_translate_photos": seconds_translate,
        "_translated": translated,
        "_noise_values": noise["values"],
    }


def evaluate(model: Model, refs: References, *, seam_photo: Image.Image | None, device: str = "cpu") -> dict:
    """Every figure of one model: quick_figures, painting share (and its separation from real paintings), seams."""
    start = time.perf_counter()
    figures = quick_figures(model=model, refs=refs, device=device)
    translated = figures.pop("_translated")
    noise_values = figures.pop("_noise_values")
    figures["noise_auc_vs_paintings"] = roc_auc(noise_values, refs.noise["paintings"]["values"])
    figures["painting_share"] = share_figure(translated, refs=refs)
    if seam_photo is not None:
        figures["seams_4k"] = seams_4k(model, seam_photo, device=device)
    figures.update(
        source=model.source,
        sha256=model.sha256,
        trained_steps=training_info(model.config).get("trained_steps"),
        seconds=time.perf_counter() - start,
    )
    return figures


def adain_calibration(refs: References, *, data: Path, device: str = "cpu", seed: int = 0) -> dict:
    """Style gap closed by AdaIN (the shipped decoder, alpha 1, the app's defaults) with a random training
    painting as each held-out photo's style: what a non-adversarial method reaches."""
    from stylegan_lib.adain import load_adain, stylize_adain

    decoder, encoder = load_adain(device=device)
    paintings = list_images(data / "vangogh2photo" / "paintings_train")
    rng = random.Random(seed)
    translated = []
    for photo in refs.photos:
        style = pil_to_tensor(open_image(rng.choice(paintings)))
        out = stylize_adain(pil_to_tensor(photo), style, decoder=decoder, encoder=encoder, device=device)
        translated.append(out[0].permute(1, 2, 0).clamp(0, 1).mul(255).round().byte().cpu().numpy())
    found = image_features(refs.vgg, as_tensor(translated), magenta=refs.magenta)
    gaps = style_gap(found, refs.features["photos"], refs.features["paintings"])
    return {
        "style_gap": gaps,
        "noise": _strip(noise_figure(translated)),
        "structure": structure(refs.photos, translated),
    }


# ----------------------------------------------------------------------------- gallery


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _attribution(data: Path, names) -> str:
    rows = {}
    manifest = data / "hd_photos" / "manifest.tsv"
    for line in manifest.read_text().splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) >= 6:
            rows[Path(cells[0]).name] = f"{Path(cells[0]).stem} by {cells[4]} ({cells[5]})"
    return "HD photos: " + "; ".join(rows.get(n, n) for n in names)


def _shown(source: str) -> str:
    """A model's source as a column label: paths relative to the repository, git:REV as it is."""
    path = Path(source).resolve()
    return str(path.relative_to(REPO)) if not source.startswith("git:") and path.is_relative_to(REPO) else source


def make_gallery(models: dict[str, Model | None], *, data: Path, out: Path, device: str = "cpu") -> Path:
    """``out`` (JPEG): columns before / each of ``models`` (label -> Model); rows: the 8 GALLERY_PHOTOS
    (256 px, two per row), then each GALLERY_HD landscape translated at GALLERY_HD_SIDE, shown whole
    (downscaled to GALLERY_CELL wide) and as a 1:1 crop from its centre, GALLERY_CELL x GALLERY_CELL / 2."""
    cell = GALLERY_CELL
    photos = [open_image(data / "vangogh2photo" / "photos_heldout" / n) for n in GALLERY_PHOTOS]
    hd = []
    for n in GALLERY_HD:
        im = open_image(data / "hd_photos" / "landscape" / n)
        scale = GALLERY_HD_SIDE / max(im.size)
        hd.append(im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS))
    columns = [("before (photo)", photos, hd)]
    for label, model in models.items():
        if model is not None:
            small = [Image.fromarray(a) for a in translate_photos(model, photos, device=device)]
            large = [Image.fromarray(a) for a in translate_photos(model, hd, device=device)]
            columns.append((label, small, large))
    half = cell // 2
    rows = []  # per row: height and a function(column images) -> PIL tile of (cell, height)
    for r in range(0, len(photos), 2):
        rows.append((half, lambda small, large, r=r: _pair(small[r : r + 2], half)))
    for k, im in enumerate(hd):
        h_whole = round(cell * im.height / im.width)
        rows.append((h_whole, lambda small, large, k=k, h=h_whole: large[k].resize((cell, h), Image.LANCZOS)))
        rows.append((half, lambda small, large, k=k: _centre_crop(large[k], cell, half)))
    header, footer, gap = 28, 40, 4
    width = len(columns) * (cell + gap) - gap
    height = header + sum(h + gap for h, _ in rows) + footer
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(16)
    for c, (label, small, large) in enumerate(columns):
        x = c * (cell + gap)
        draw.text((x + 4, 5), label, fill="black", font=font)
        y = header
        for h, tile in rows:
            sheet.paste(tile(small, large), (x, y))
            y += h + gap
    note = (
        "held-out vangogh2photo photos at 256 px (evaluation only); HD rows: whole frame at "
        f"{GALLERY_HD_SIDE} px, shown reduced, then a 1:1 centre crop"
    )
    small_font = _font(12)
    draw.text((4, height - footer + 4), note, fill="black", font=small_font)
    draw.text((4, height - footer + 20), _attribution(data, GALLERY_HD), fill="black", font=small_font)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=88)
    return out


def _pair(images, half: int) -> Image.Image:
    tile = Image.new("RGB", (2 * half, half), "white")
    for i, im in enumerate(images):
        tile.paste(im.resize((half, half), Image.LANCZOS) if im.size != (half, half) else im, (i * half, 0))
    return tile


def _centre_crop(im: Image.Image, w: int, h: int) -> Image.Image:
    left, top = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((left, top, left + w, top + h))


# ----------------------------------------------------------------------------- targets


def meets_targets(figures: dict, references: dict, targets: Targets = Targets()) -> dict[str, bool]:
    """Each single-model target of ``figures`` (an eval.json "new" entry) against ``targets``."""
    gaps = figures["style_gap"]
    result = {
        "style_gap_relu5_1": gaps["relu5_1"]["gap_closed"] >= targets.style_gap_relu5_1,
        "style_gap_relu3_1": gaps["relu3_1"]["gap_closed"] >= targets.style_gap_relu3_1,
        "structure": figures["structure"] >= targets.structure,
        "noise": figures["noise"]["mean"] <= references["noise_paintings"]["mean"],
    }
    if "seams_4k" in figures:
        image = figures["seams_4k"]["image"]
        result["seam_4k_image"] = max(image["seam_score"], image["seam_score_model_grid"]) <= targets.seam_4k_image
    return result


def check(root: Path = REPO / "checkpoints") -> list[str]:
    """The failures of the committed eval.json files (empty: every target met)."""
    failures, seams_tile = [], {}
    for name in MODELS:
        path = root / name / "eval.json"
        if not path.is_file():
            failures.append(f"{name}: no {path}")
            continue
        report = json.loads(path.read_text())
        new = report["new"]
        weights = root / name / "model.safetensors"
        if weights.is_file() and new.get("sha256") != _sha256(weights):
            failures.append(f"{name}: eval.json measured other weights than {weights} (run the evaluation again)")
        for target, ok in meets_targets(new, report["references"]).items():
            if not ok:
                failures.append(f"{name}: {target} not met ({_figure(new, report['references'], target)})")
        if "seams_4k" not in new:
            failures.append(f"{name}: no 4K seam score measured")
        elif "tile" in new["seams_4k"]:
            seams_tile[name] = new["seams_4k"]["tile"]["seam_score_model_grid"]
    combo, naive = seams_tile.get("siamese-vangogh"), seams_tile.get("siamese-vangogh-naive")
    if combo is None or naive is None:
        failures.append("per-tile seam scores of siamese-vangogh and siamese-vangogh-naive are not both measured")
    elif not combo < naive:
        failures.append(f"per-tile statistics: Combo's seam score {combo:.3f} is not below naive's {naive:.3f}")
    return failures


def _figure(figures: dict, references: dict, target: str) -> str:
    if target.startswith("style_gap_"):
        return f"{figures['style_gap'][target[len('style_gap_') :]]['gap_closed']:.3f}"
    if target == "noise":
        return f"{figures['noise']['mean']:.3f} vs the paintings' {references['noise_paintings']['mean']:.3f}"
    if target == "seam_4k_image":
        image = figures["seams_4k"]["image"]
        return f"{image['seam_score_model_grid']:.3f} on the model's grid, {image['seam_score']:.3f} on the tiles'"
    return f"{figures[target]:.3f}"


# ----------------------------------------------------------------------------- CLI


def device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name()
    return f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()})"


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=list(MODELS), help="registry name (repeatable)")
    parser.add_argument("--all", action="store_true", help="the three Van Gogh models")
    parser.add_argument(
        "--new", help="the model to judge: a path (one --model) or git:REV (default: checkpoints/<name>)"
    )
    parser.add_argument("--old", help="the model to compare with: git:REV for every model, or a path with one --model")
    parser.add_argument("--out", type=Path, help="folder for eval.json and gallery.jpg (default: checkpoints/<name>)")
    parser.add_argument("--photos", type=int, default=100, help="held-out photos for the figures")
    parser.add_argument("--no-seams", action="store_true", help="skip the 4K seam scores (the slow part)")
    parser.add_argument("--no-gallery", action="store_true")
    parser.add_argument("--adain", action="store_true", help="also the AdaIN calibration row (about 1 minute)")
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder (default: ../shared/data)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--check", action="store_true", help="only check the committed eval.json files")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every weight used here is local: no Hub round trips
    if args.check:
        failures = check()
        print("\n".join(failures) if failures else "every Van Gogh model meets the targets")
        return 1 if failures else 0
    names = list(MODELS) if args.all else args.model or []
    if not names:
        parser.error("give --model NAME, --all or --check")
    paths = [spec for spec in (args.new, args.old) if spec and not spec.startswith("git:")]
    if len(names) > 1 and (paths or args.out):
        parser.error("--out and a path for --new or --old need a single --model (git:REV works with several)")
    data = args.data or default_data()
    start = time.perf_counter()
    refs = References.load(data=data, photos=args.photos, device=args.device)
    _log(f"references ready ({time.perf_counter() - start:.0f} s)")
    references = refs.summary()
    if args.adain:
        references["adain_random_painting"] = adain_calibration(refs, data=data, device=args.device)
        _log(f"AdaIN calibration: {json.dumps(references['adain_random_painting'])}")
    seam_photo = None if args.no_seams else open_image(data / "hd_photos" / "landscape" / SEAM_PHOTO).resize(SEAM_SIZE)
    for name in names:
        new = load_model(args.new or str(REPO / "checkpoints" / name), name=name, device=args.device)
        old = load_model(args.old, name=name, device=args.device) if args.old else None
        report = {
            "model": name,
            "date": datetime.date.today().isoformat(),
            "device": device_name(args.device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "command": "python bench/vangogh_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "targets": asdict(Targets()),
            "references": references,
        }
        for label, model in (("old", old), ("new", new)):
            if model is not None:
                report[label] = evaluate(model, refs, seam_photo=seam_photo, device=args.device)
                _log(f"{name} {label}: {json.dumps(report[label])}")
        report["meets_targets"] = meets_targets(report["new"], references)
        out = args.out or REPO / "checkpoints" / name
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
        if not args.no_gallery:
            columns = {f"{label} ({_shown(m.source)})": m for label, m in (("old", old), ("new", new)) if m}
            columns = columns if old else {"model": new}
            make_gallery(columns, data=data, out=out / "gallery.jpg", device=args.device)
        _log(f"{name} written to {out} ({time.perf_counter() - start:.0f} s so far)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
