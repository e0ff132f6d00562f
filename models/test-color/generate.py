"""Builds the `test-color` model: a tiny, deterministic stand-in for CLIP used by the tests.

It has the interface of the transformers.js CLIP ViT-B/32 export:
  vision: pixel_values f32 [batch, 3, 224, 224] -> image_embeds f32 [batch, 512]
  text:   input_ids    i64 [batch, seq]          -> text_embeds  f32 [batch, 512]
and uses the real CLIP tokenizer, but it "understands" only colour:

* the image encoder averages the (un-normalized) pixels to a mean RGB colour, takes its chroma
  (RGB minus its grey level) and appends a constant neutral component, so that strongly
  coloured photos point clearly in their colour's direction and greyish ones mostly point to
  "neutral";
* the text encoder sums per-token vectors: each colour word's token maps to that colour's
  chroma, every other token to zero.

Both 4-d feature vectors are mapped into 512 dimensions by the same fixed matrix with orthonormal
rows, so cosine similarities are those of the 4-d features. Nothing here is learned: this model
must never be mistaken for a real one (its manifest says so).

Run: python models/test-color/generate.py  (needs onnx, numpy, tokenizers)
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

HERE = pathlib.Path(__file__).resolve().parent
DIMS = 512
VOCAB = 49408
NEUTRAL = 0.12  # weight of the constant "neutral" component of image features
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 0.8, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "purple": (0.5, 0.0, 0.5),
    "orange": (1.0, 0.5, 0.0),
    "pink": (1.0, 0.6, 0.7),
}
OPSET = [helper.make_opsetid("", 17)]


def projection() -> np.ndarray:
    rng = np.random.default_rng(20261122)
    q, _ = np.linalg.qr(rng.standard_normal((DIMS, 4)))
    return q.T.astype(np.float32)  # [4, 512], orthonormal rows


def chroma(rgb) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64)
    c = c - c.mean()
    return c / np.linalg.norm(c)


def save(graph, name: str) -> None:
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="photo-search test-color")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, HERE / "onnx" / name)


def colour_vision(w: np.ndarray, mean, std, output: str):
    """Nodes and initializers that undo the normalization, average the pixels to a colour's
    chroma plus the neutral component, and project it by `w` into `output`."""
    init = [
        numpy_helper.from_array(np.array(std, np.float32).reshape(1, 3), "std"),
        numpy_helper.from_array(np.array(mean, np.float32).reshape(1, 3), "mean"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(NEUTRAL, np.float32), "neutral"),
        numpy_helper.from_array(w, "projection"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values"], ["avg"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["avg", "std"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mean"], ["rgb"]),
        helper.make_node("ReduceMean", ["rgb"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["rgb", "grey"], ["chroma"]),
        # A [batch, 1] column of the neutral constant, shaped from the batch.
        helper.make_node("Mul", ["grey", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "neutral"], ["neutral_col"]),
        helper.make_node("Concat", ["chroma", "neutral_col"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "projection"], [output]),
    ]
    return nodes, init


def vision(w: np.ndarray) -> None:
    nodes, init = colour_vision(w, MEAN, STD, "image_embeds")
    graph = helper.make_graph(
        nodes,
        "test_color_vision",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", DIMS])],
        init,
    )
    save(graph, "vision_model.onnx")


def text(w: np.ndarray, tokenizer: Tokenizer) -> None:
    table = np.zeros((VOCAB, 4), np.float32)
    for word, rgb in COLOURS.items():
        ids = tokenizer.encode(word, add_special_tokens=False).ids
        assert len(ids) == 1, (word, ids)
        table[ids[0], :3] = chroma(rgb)
    init = [numpy_helper.from_array(table, "token_features"), numpy_helper.from_array(w, "projection")]
    nodes = [
        helper.make_node("Gather", ["token_features", "input_ids"], ["per_token"], axis=0),
        helper.make_node("ReduceSum", ["per_token", "axis1"], ["features"], keepdims=0),
        helper.make_node("MatMul", ["features", "projection"], ["text_embeds"]),
    ]
    init.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    graph = helper.make_graph(
        nodes,
        "test_color_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch_size", DIMS])],
        init,
    )
    save(graph, "text_model.onnx")


def main() -> None:
    (HERE / "onnx").mkdir(exist_ok=True)
    tokenizer = Tokenizer.from_file(str(HERE / "tokenizer.json"))
    w = projection()
    vision(w)
    text(w, tokenizer)


if __name__ == "__main__":
    main()
