"""Writes golden CLIP token ids for tests/reference/tokenizer_golden.json.

Reference: Hugging Face `tokenizers` (Python) with the real CLIP tokenizer.json, truncated to the
context length of 77 the way transformers does it (special tokens kept, EOS last). Padding is
not part of the golden ids: the Rust side pads after these ids.

Run: python tests/reference/make_tokenizer_golden.py  (needs tokenizers)
"""
import json
import pathlib

from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZER = ROOT.parent / "shared/models/clip-vit-base-patch32/tokenizer.json"
OUT = ROOT / "tests/reference/tokenizer_golden.json"
CONTEXT = 77

TEXTS = [
    "a photo of a cat",
    "Kids on a beach at sunset!",
    "  multiple   spaces\tand\nnewlines  ",
    "don't, can't; won't... (really?)",
    "2 dogs and 13 cats in 2024",
    "3.14159 pi, 1,000,000 people",
    "Café crème brûlée in Zürich",
    "naïve façade résumé",
    "🐶 dog with a 🎈 balloon 🎉",
    "東京の夜景",
    "서울 야경",
    "Ünïcödé ÄÖÜ",
    "#hashtag @mention http://example.com/a?b=c",
    "",
    " ".join(["a very long description of a picture"] * 20),
]


def main() -> None:
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    tokenizer.enable_truncation(CONTEXT)
    golden = [{"text": text, "ids": tokenizer.encode(text).ids} for text in TEXTS]
    assert len(golden[-1]["ids"]) == CONTEXT and golden[-1]["ids"][-1] == 49407
    OUT.write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
