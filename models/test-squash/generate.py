"""Builds the `test-squash` model: test-color's colour "understanding" in SigLIP's interface, so
the tests run that pipeline variant end to end:

* preprocessing squashed to 224x224 with mean = std = 0.5 (SigLIP's), so a wide photo's whole
  width counts, where CLIP's center crop would keep only its middle;
* a SentencePiece (Unigram) tokenizer.json over a few words, lower-casing like SigLIP 2's,
  appending </s>, padded to a fixed 16 tokens with </s> (id 1), as SigLIP's;
* 768-d outputs named `pooler_output`, as the transformers.js SigLIP export names them.

The vision graph averages the pixels to a colour's chroma plus a constant neutral component; the
text graph sums per-token vectors (each colour word's token maps to its chroma, everything else,
padding included, to zero); both go through one fixed 4 -> 768 matrix with orthonormal rows.
Nothing is learned: this model must never pass for a real one (its manifest says so).

Run: python models/test-squash/generate.py   (needs onnx, numpy, tokenizers; deterministic)
"""
import importlib.util
import pathlib

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import Unigram
from tokenizers.processors import TemplateProcessing

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("test_color", HERE.parent / "test-color" / "generate.py")
test_color = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_color)

DIMS = 768
MEAN = STD = [0.5, 0.5, 0.5]
SPECIALS = ["<pad>", "</s>", "<unk>"]


def tokenizer():
    """A SentencePiece Unigram model (the kind SigLIP's tokenizer.json holds) over whole words,
    with single characters as the fallback: a tiny corpus cannot train one."""
    words = list(test_color.COLOURS) + ["a", "photo", "of", "the", "sky", "sea", "car", "flower", "dress", "wall"]
    chars = sorted(set("".join(words)) | set("bcdhijkmnqtuvwxz"))
    vocab = [(s, 0.0) for s in SPECIALS]
    vocab += [("\u2581" + w, -2.0 - i * 0.01) for i, w in enumerate(words)]
    vocab += [("\u2581", -8.0)] + [(c, -10.0) for c in chars]
    t = Tokenizer(Unigram(vocab, unk_id=SPECIALS.index("<unk>"), byte_fallback=False))
    t.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(" ", "\u2581")])
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    t.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    t.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", SPECIALS.index("</s>"))])
    t.save(str(HERE / "tokenizer.json"))
    return t


def projection():
    rng = np.random.default_rng(20261123)
    q, _ = np.linalg.qr(rng.standard_normal((DIMS, 4)))
    return q.T.astype(np.float32)


def save(nodes, inits, name, input_info, output):
    graph = helper.make_graph(nodes, name, [input_info],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch_size", DIMS])], inits)
    model = helper.make_model(graph, opset_imports=test_color.OPSET, producer_name="photo-search test-squash")
    model.ir_version = 8
    import onnx
    onnx.checker.check_model(model)
    onnx.save(model, HERE / "onnx" / f"{name}.onnx")


def vision(w):
    nodes, inits = test_color.colour_vision(w, MEAN, STD, "pooler_output")
    save(nodes, inits, "vision_model",
         helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224]), "pooler_output")


def text(w, tok):
    table = np.zeros((tok.get_vocab_size(), 4), np.float32)
    for word, rgb in test_color.COLOURS.items():
        ids = tok.encode(word, add_special_tokens=False).ids
        assert len(ids) == 1, (word, tok.encode(word, add_special_tokens=False).tokens)
        table[ids[0], :3] = test_color.chroma(rgb)
    inits = [numpy_helper.from_array(table, "token_features"), numpy_helper.from_array(w, "projection"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1")]
    nodes = [
        helper.make_node("Gather", ["token_features", "input_ids"], ["per_token"], axis=0),
        helper.make_node("ReduceSum", ["per_token", "axis1"], ["features"], keepdims=0),
        helper.make_node("MatMul", ["features", "projection"], ["pooler_output"]),
    ]
    save(nodes, inits, "text_model",
         helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]), "pooler_output")


def main():
    (HERE / "onnx").mkdir(exist_ok=True)
    tok = tokenizer()
    w = projection()
    vision(w)
    text(w, tok)
    print("red ->", tok.encode("a red car").tokens)


if __name__ == "__main__":
    main()
