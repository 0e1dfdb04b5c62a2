"""The app's "About and credits" section: what each method is, its paper, the model cards, the data."""

from __future__ import annotations

from stylegan_lib import hub

# (method as the app names it, what it does here, paper with its arXiv id)
METHODS = [
    ("Siamese GAN", "photo → Van Gogh painting, tile by tile at any resolution; trained on stitched tiles "
     "(Combo) so tile borders look real, or on single tiles (the naive baseline)",
     "Siamese discriminator with transformation vectors: Amodio & Krishnaswamy, *TraVeLGAN*, CVPR 2019, "
     "[arXiv:1902.09631](https://arxiv.org/abs/1902.09631)"),
    ("Whole-photo statistics", "every tile normalised with statistics of the whole photo, so no tile borders "
     "show", "Chen et al., *Towards Ultra-Resolution Neural Style Transfer via Thumbnail Instance "
     "Normalization*, AAAI 2022, [arXiv:2103.11784](https://arxiv.org/abs/2103.11784)"),
    ("CycleGAN", "photo → Van Gogh painting, unpaired training with a cycle-consistency loss",
     "Zhu, Park, Isola & Efros, ICCV 2017, [arXiv:1703.10593](https://arxiv.org/abs/1703.10593)"),
    ("Gatys style transfer", "optimises the picture itself to match a content photo and a style image in VGG19 "
     "features", "Gatys, Ecker & Bethge, *A Neural Algorithm of Artistic Style*, 2015, "
     "[arXiv:1508.06576](https://arxiv.org/abs/1508.06576); VGG19: Simonyan & Zisserman, ICLR 2015, "
     "[arXiv:1409.1556](https://arxiv.org/abs/1409.1556)"),
    ("AdaIN", "fast feed-forward style transfer for any style image",
     "Huang & Belongie, *Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization*, ICCV "
     "2017, [arXiv:1703.06868](https://arxiv.org/abs/1703.06868)"),
    ("ProGAN", "faces from random latent vectors; interpolation between two of them; the closest latent to a "
     "target photo", "Karras, Aila, Laine & Lehtinen, *Progressive Growing of GANs*, ICLR 2018, "
     "[arXiv:1710.10196](https://arxiv.org/abs/1710.10196); trained with DiffAugment: Zhao et al., NeurIPS "
     "2020, [arXiv:2006.10738](https://arxiv.org/abs/2006.10738); slerp: White, *Sampling Generative "
     "Networks*, 2016, [arXiv:1609.04468](https://arxiv.org/abs/1609.04468)"),
    ("DCGAN", "the faces tab's baseline: the same faces, latent tools and search from a generator trained at "
     "one resolution, without progressive growing", "Radford, Metz & Chintala, *Unsupervised Representation "
     "Learning with Deep Convolutional GANs*, ICLR 2016, [arXiv:1511.06434](https://arxiv.org/abs/1511.06434)"),
]  # fmt: skip
MAGENTA = ("Magenta arbitrary stylization", "fast feed-forward style transfer for any style image",
           "Ghiasi et al., *Exploring the Structure of a Real-time, Arbitrary Neural Artistic Stylization "
           "Network*, BMVC 2017, [arXiv:1705.06830](https://arxiv.org/abs/1705.06830)")  # fmt: skip


def model_cards() -> list[str]:
    """A Markdown link to the model card of every model the app downloads, at its pinned revision."""
    return [
        f"[{spec.repo_id}](https://huggingface.co/{spec.repo_id}/tree/{spec.revision}) ({spec.revision}): "
        f"{spec.description}"
        for spec in hub.REGISTRY.values()
    ]


def text() -> str:
    methods = METHODS + ([MAGENTA] if "magenta-arbitrary" in hub.REGISTRY else [])
    lines = ["### Methods", "", "| method | what it does here | paper |", "| --- | --- | --- |"]
    lines += [f"| {name} | {what} | {paper} |" for name, what, paper in methods]
    lines += ["", "### Model cards (weights, training data, measured quality, limits)", ""]
    lines += [f"- {card}" for card in model_cards()]
    lines += [
        "",
        "### Data and licences",
        "",
        "Code: MIT. The weights carry their training data's terms, stated in each model card: the face models "
        "were trained on CelebA (non-commercial research use only); the Van Gogh paintings of `vangogh2photo` "
        "are public domain, its Flickr photos have no recorded licence. Example images: authors and licences "
        "in `examples/ATTRIBUTION.md` (CC0, CC BY 4.0, GPL-2+).",
        "",
        "Results shown when a tab opens are those of the examples, computed with the shipped models by "
        "`python -m webapp.examples` (nothing runs when the page loads).",
    ]
    return "\n".join(lines)
