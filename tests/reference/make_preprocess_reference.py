"""Writes the reference input tensors our Rust preprocessing is tested against: CLIP's
(shortest edge, center crop) and SigLIP's (squashed to a square, no crop).

Reference: transformers' CLIPImageProcessor (its Pillow backend, the original implementation) configured by the real preprocessor_config.json of
clip-vit-base-patch32, fed with Pillow-decoded photos that have their EXIF orientation applied
(CLIPImageProcessor itself ignores EXIF; a photo app must not).

Each tensor is stored as raw little-endian f32, shape [3, 224, 224], in
tests/reference/preprocess/<name>.f32, listed in preprocess/manifest.tsv; SigLIP's, made by
transformers' SiglipImageProcessor with its defaults (those of Xenova/siglip-base-patch16-224:
224x224, bicubic, mean = std = 0.5), in tests/reference/preprocess-squash/ for four photos.

Run: python tests/reference/make_preprocess_reference.py  (needs transformers, pillow, numpy)
"""
import json
import pathlib

import numpy as np
from PIL import Image, ImageOps
from transformers import CLIPImageProcessor, SiglipImageProcessor

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CONFIG = SHARED / "models/clip-vit-base-patch32/preprocessor_config.json"
OUT = ROOT / "tests/reference/preprocess"
OUT_SQUASH = ROOT / "tests/reference/preprocess-squash"

PHOTOS = [
    "camera/Apple_iPhone_4S.jpg",  # 8 MP, EXIF orientation 6
    "camera/Canon_EOS_20D_(2).jpg",  # portrait-stored, orientation 6
    "camera/Leica_T_(Typ_701).jpg",  # 16 MP, orientation 8
    "camera/Nikon_D90.jpg",  # 12 MP, orientation 1
    "orientation/recurser/Landscape_3.jpg",  # orientation 3 (180 degrees)
    "orientation/recurser/Portrait_5.jpg",  # orientation 5 (transpose)
    "formats/png/skimage__astronaut.png",  # PNG, no EXIF
]


def main() -> None:
    write(CLIPImageProcessor(**json.loads(CONFIG.read_text())), PHOTOS, OUT)
    squashed = [PHOTOS[0], PHOTOS[3], PHOTOS[5], PHOTOS[6]]
    write(SiglipImageProcessor(), squashed, OUT_SQUASH)


def write(processor, photos, out) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for rel in photos:
        with Image.open(SHARED / "photos" / rel) as img:
            upright = ImageOps.exif_transpose(img).convert("RGB")
        tensor = processor(images=upright, return_tensors="np")["pixel_values"][0]
        assert tensor.shape == (3, 224, 224), tensor.shape
        name = pathlib.Path(rel).stem
        tensor.astype("<f4").tofile(out / f"{name}.f32")
        rows.append(f"{rel}\t{name}.f32")
    (out / "manifest.tsv").write_text("photo\ttensor\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
