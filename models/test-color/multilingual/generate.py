"""Builds test-color's `multilingual` query encoder: the shape of
sentence-transformers/clip-ViT-B-32-multilingual-v1 (a BERT-style text tower whose token states
are mean-pooled over the attention mask, then a 2_Dense layer without bias maps them into the
image space of another model), understanding only colour words in four languages.

* tokenizer.json: WordPiece over a few words (cased, [CLS] $A [SEP], [PAD] = 0), as the real
  multilingual tokenizer is;
* onnx/model.onnx: input_ids, attention_mask (int64) -> last_hidden_state f32 [batch, seq, 16],
  a table lookup per token. A colour word's state carries that colour's chroma (as test-color's
  English text tower sees it) in its first three values; [CLS] and [SEP] carry values only in the
  last twelve, which the projection ignores; [PAD] carries blue's chroma, so pooling that does
  not leave padding out points the wrong way;
* 2_Dense/model.safetensors: one F32 matrix "linear.weight" [512, 16], test-color's own 4 -> 512
  projection in its first four columns, zeros elsewhere.

So "rouge", "rot" and "rojo" embed where test-color's "red" does, over the same photo vectors.
Nothing is learned: it is for tests only.

Run: python models/test-color/multilingual/generate.py  (needs onnx, numpy, tokenizers)
"""
import importlib.util
import json
import pathlib
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import WordPiece
from tokenizers.processors import TemplateProcessing

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("test_color", HERE.parent / "generate.py")
test_color = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_color)

HIDDEN = 16
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
# Each colour's words in English, German, French and Spanish (inflected forms included).
WORDS = {
    "red": ["red", "rot", "rote", "roter", "rouge", "rojo", "roja"],
    "green": ["green", "grün", "grüne", "vert", "verte", "verde"],
    "blue": ["blue", "blau", "blaue", "bleu", "bleue", "azul"],
    "yellow": ["yellow", "gelb", "gelbe", "jaune", "amarillo", "amarilla"],
    "orange": ["orange", "naranja"],
    "pink": ["pink", "rosa", "rose"],
    "purple": ["purple", "lila", "violet", "morado"],
    "magenta": ["magenta"],
}
OTHER = ["a", "an", "of", "the", "photo", "ein", "eine", "Foto", "une", "de", "una", "foto", "sky", "Himmel",
         "ciel", "cielo", "Blumen", "fleurs", "flores", ",", "."]


def tokenizer():
    vocab = SPECIALS + [w for words in WORDS.values() for w in words] + OTHER
    t = Tokenizer(WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    t.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t.decoder = decoders.WordPiece()
    t.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    t.save(str(HERE / "tokenizer.json"))
    return vocab


def states(vocab) -> np.ndarray:
    rng = np.random.default_rng(20261123)
    table = np.zeros((len(vocab), HIDDEN), np.float32)
    for colour, words in WORDS.items():
        for w in words:
            table[vocab.index(w), :3] = test_color.chroma(test_color.COLOURS[colour])
            table[vocab.index(w), 4:] = rng.standard_normal(HIDDEN - 4) * 0.3
    for special in ["[CLS]", "[SEP]"]:
        table[vocab.index(special), 4:] = rng.standard_normal(HIDDEN - 4)
    table[vocab.index("[PAD]"), :3] = test_color.chroma(test_color.COLOURS["blue"]) * 5.0
    return table


def graph(table: np.ndarray) -> None:
    init = [
        numpy_helper.from_array(table, "token_states"),
        numpy_helper.from_array(np.array([-1], np.int64), "last_axis"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("Gather", ["token_states", "input_ids"], ["looked_up"], axis=0),
        # The mask reaches the output (times zero), as attention masks do in a real tower.
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "last_axis"], ["mask_col"]),
        helper.make_node("Mul", ["mask_col", "zero"], ["no_change"]),
        helper.make_node("Add", ["looked_up", "no_change"], ["last_hidden_state"]),
    ]
    g = helper.make_graph(
        nodes,
        "test_color_multilingual_text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "sequence_length"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", HIDDEN])],
        init,
    )
    model = helper.make_model(g, opset_imports=test_color.OPSET, producer_name="photo-search test-color multilingual")
    model.ir_version = 8
    onnx.checker.check_model(model)
    (HERE / "onnx").mkdir(exist_ok=True)
    onnx.save(model, HERE / "onnx" / "model.onnx")


def dense() -> None:
    """sentence-transformers' 2_Dense as safetensors: an 8-byte header length, the JSON header
    (padded with spaces to 8 bytes), then the little-endian floats."""
    weight = np.zeros((test_color.DIMS, HIDDEN), np.float32)
    weight[:, :4] = test_color.projection().T
    data = weight.astype("<f4").tobytes()
    header = {"linear.weight": {"dtype": "F32", "shape": list(weight.shape), "data_offsets": [0, len(data)]}}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    (HERE / "2_Dense").mkdir(exist_ok=True)
    (HERE / "2_Dense" / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + data)


def main() -> None:
    vocab = tokenizer()
    graph(states(vocab))
    dense()


if __name__ == "__main__":
    main()
