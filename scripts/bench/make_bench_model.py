"""Builds the benchmark model: CLIP ViT-B/32's exact architecture (vision and text towers) with
random weights, in the interface of the transformers.js export, so that it costs what the real
model costs per image and per query. It is NOT a real model: it finds nothing meaningful.

Writes into OUT (default .cache/bench-model/):
  onnx/vision_model.onnx, onnx/text_model.onnx                     fp32
  onnx/vision_model_quantized.onnx, onnx/text_model_quantized.onnx  uint8 weights, per tensor:
      dynamic quantization as the transformers.js "quantized" files are made
  onnx/vision_model_int8.onnx, onnx/text_model_int8.onnx            signed int8, per channel
  onnx/vision_model_fp16.onnx, onnx/text_model_fp16.onnx            fp16 (the GPU's precision), float I/O
  tokenizer.json (the real CLIP tokenizer), manifest.toml (test_only, pinned to these files)

Also writes OUT-library/ (default .cache/bench-model-library/): the model for benchmarks of
whole libraries (`photo-search bench app`), whose photos are small generated JPEGs. Its text
tower is the int8 one above (a query costs what a real one costs); its vision tower is cheap:
16x16 average-pooled pixels through a random two-layer network to 512 dimensions, so a million
photos index in reasonable time and the vectors still spread over hundreds of dimensions (not
the four of the test colour model). It too finds nothing meaningful.

Also writes OUT-siglip/ (default .cache/bench-model-siglip/): SigLIP B/16's architecture (224 px,
16x16 patches, attention-pooling head; a 64-token text tower) with random weights, fp32 and uint8
as transformers.js ships them, for the per-model speed table. `--siglip-only` writes just that.

Also adds to OUT a `multilingual` query encoder: sentence-transformers clip-ViT-B-32-multilingual-v1's
architecture (DistilBERT: 119,547-token vocabulary, 6 post-norm layers of width 768, token
states out; then a 768 -> 512 dense layer) with random weights, QInt8 as its ONNX export ships,
for its query latency. `--multilingual-only` writes just that into an existing OUT.

Run: python scripts/bench/make_bench_model.py [OUT] [--siglip-only | --multilingual-only]   (needs numpy, onnx, onnxruntime)
"""
import hashlib
import pathlib
import re
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.float16 import convert_float_to_float16

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPSET = [helper.make_opsetid("", 17)]
RNG = np.random.default_rng(32)


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def weight(self, shape, std=0.02, value=None):
        name = self.name("w")
        array = np.full(shape, value, np.float32) if value is not None else (RNG.standard_normal(shape) * std).astype(np.float32)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def const(self, array):
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def linear(self, x, n_in, n_out, bias=True):
        y = self.op("MatMul", [x, self.weight((n_in, n_out))])
        return self.op("Add", [y, self.weight((n_out,), value=0.0)]) if bias else y

    def layer_norm(self, x, width):
        return self.op("LayerNormalization", [x, self.weight((width,), value=1.0), self.weight((width,), value=0.0)],
                       axis=-1, epsilon=1e-5)

    def attention(self, queries, keys_values, width, heads, mask=None):
        """Multi-head attention of `queries` over `keys_values`, projected back to `width`."""
        head = width // heads
        q = self.linear(queries, width, width)
        k, v = (self.linear(keys_values, width, width) for _ in range(2))
        split = self.const(np.array([0, 0, heads, head], np.int64))

        def heads_first(t):
            return self.op("Transpose", [self.op("Reshape", [t, split])], perm=[0, 2, 1, 3])

        q, k, v = heads_first(q), heads_first(k), heads_first(v)
        scores = self.op("Mul", [self.op("MatMul", [q, self.op("Transpose", [k], perm=[0, 1, 3, 2])]),
                                 self.const(np.array(head ** -0.5, np.float32))])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        ctx = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        ctx = self.op("Reshape", [self.op("Transpose", [ctx], perm=[0, 2, 1, 3]),
                                  self.const(np.array([0, 0, width], np.int64))])
        return self.linear(ctx, width, width)

    def activation(self, h, kind):
        if kind == "quick_gelu":  # CLIP
            return self.op("Mul", [h, self.op("Sigmoid", [self.op("Mul", [h, self.const(np.array(1.702, np.float32))])])])
        # gelu_pytorch_tanh (SigLIP): 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))
        cube = self.op("Mul", [self.op("Mul", [h, h]), h])
        inner = self.op("Add", [h, self.op("Mul", [cube, self.const(np.array(0.044715, np.float32))])])
        t = self.op("Tanh", [self.op("Mul", [inner, self.const(np.array((2 / np.pi) ** 0.5, np.float32))])])
        return self.op("Mul", [self.op("Mul", [h, self.const(np.array(0.5, np.float32))]),
                               self.op("Add", [t, self.const(np.array(1.0, np.float32))])])

    def mlp(self, x, width, kind):
        return self.linear(self.activation(self.linear(x, width, 4 * width), kind), 4 * width, width)

    def encoder_layer(self, x, width, heads, mask=None, kind="quick_gelu"):
        h = self.layer_norm(x, width)
        x = self.op("Add", [x, self.attention(h, h, width, heads, mask)])
        return self.op("Add", [x, self.mlp(self.layer_norm(x, width), width, kind)])

    def save(self, inputs, output, dims, path):
        self.nodes[-1].output[0] = output
        graph = helper.make_graph(self.nodes, path.stem, inputs,
                                  [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch_size", dims])],
                                  self.inits)
        model = helper.make_model(graph, opset_imports=OPSET, producer_name="photo-search bench model")
        model.ir_version = 8
        onnx.save(model, path)


def vision(path):
    g = Graph()
    width, patches = 768, 49
    x = g.op("Conv", ["pixel_values", g.weight((width, 3, 32, 32))], strides=[32, 32])
    x = g.op("Transpose", [g.op("Reshape", [x, g.const(np.array([0, width, patches], np.int64))])], perm=[0, 2, 1])
    batch = g.op("Gather", [g.op("Shape", ["pixel_values"]), g.const(np.array([0], np.int64))], axis=0)
    cls_shape = g.op("Concat", [batch, g.const(np.array([1, width], np.int64))], axis=0)
    cls = g.op("Expand", [g.weight((1, 1, width)), cls_shape])
    x = g.op("Add", [g.op("Concat", [cls, x], axis=1), g.weight((1, patches + 1, width))])
    x = g.layer_norm(x, width)
    for _ in range(12):
        x = g.encoder_layer(x, width, 12)
    pooled = g.op("Squeeze", [g.op("Gather", [x, g.const(np.array([0], np.int64))], axis=1),
                              g.const(np.array([1], np.int64))])
    pooled = g.layer_norm(pooled, width)
    g.linear(pooled, width, 512, bias=False)
    g.save([helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
           "image_embeds", 512, path)


def text(path):
    g = Graph()
    width, context = 512, 77
    ids = "input_ids"
    seq = g.op("Gather", [g.op("Shape", [ids]), g.const(np.array([1], np.int64))], axis=0)
    x = g.op("Gather", [g.weight((49408, width)), ids], axis=0)
    positions = g.op("Slice", [g.weight((context, width), std=0.01), g.const(np.array([0], np.int64)), seq,
                               g.const(np.array([0], np.int64))])
    x = g.op("Add", [x, positions])
    causal = np.triu(np.full((context, context), -1e9, np.float32), k=1)
    zero = g.const(np.array([0, 0], np.int64))
    mask = g.op("Slice", [g.const(causal), zero, g.op("Concat", [seq, seq], axis=0), g.const(np.array([0, 1], np.int64))])
    for _ in range(12):
        x = g.encoder_layer(x, width, 8, mask=mask)
    x = g.layer_norm(x, width)
    eos = g.op("ArgMax", [ids], axis=1, keepdims=1)
    index = g.op("Expand", [g.op("Unsqueeze", [eos, g.const(np.array([2], np.int64))]),
                            g.op("Concat", [g.op("Gather", [g.op("Shape", [ids]), g.const(np.array([0], np.int64))],
                                                 axis=0), g.const(np.array([1, width], np.int64))], axis=0)])
    pooled = g.op("Squeeze", [g.op("GatherElements", [x, index], axis=1), g.const(np.array([1], np.int64))])
    g.linear(pooled, width, 512, bias=False)
    g.save([helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch_size", "sequence_length"])],
           "text_embeds", 512, path)


def siglip_vision(path):
    """SigLIP B/16 at 224 px: 16x16 patches (196 tokens, no class token), 12 layers of width 768,
    gelu-tanh, then the attention-pooling head (a learned probe attends over the tokens)."""
    g = Graph()
    width, patches = 768, 196
    x = g.op("Conv", ["pixel_values", g.weight((width, 3, 16, 16)), g.weight((width,), value=0.0)], strides=[16, 16])
    x = g.op("Transpose", [g.op("Reshape", [x, g.const(np.array([0, width, patches], np.int64))])], perm=[0, 2, 1])
    x = g.op("Add", [x, g.weight((1, patches, width))])
    for _ in range(12):
        x = g.encoder_layer(x, width, 12, kind="gelu_tanh")
    x = g.layer_norm(x, width)
    batch = g.op("Gather", [g.op("Shape", ["pixel_values"]), g.const(np.array([0], np.int64))], axis=0)
    probe = g.op("Expand", [g.weight((1, 1, width)), g.op("Concat", [batch, g.const(np.array([1, width], np.int64))], axis=0)])
    pooled = g.attention(probe, x, width, 12)
    pooled = g.op("Add", [pooled, g.mlp(g.layer_norm(pooled, width), width, "gelu_tanh")])
    g.op("Squeeze", [pooled, g.const(np.array([1], np.int64))])
    g.save([helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
           "pooler_output", width, path)


def siglip_text(path):
    """SigLIP B/16's text tower: 64 tokens from a 32,000-piece vocabulary, 12 layers of width 768
    attending in both directions, pooled at the last position, then a 768 -> 768 head."""
    g = Graph()
    width, context = 768, 64
    ids = "input_ids"
    x = g.op("Gather", [g.weight((32000, width)), ids], axis=0)
    x = g.op("Add", [x, g.weight((1, context, width), std=0.01)])
    for _ in range(12):
        x = g.encoder_layer(x, width, 12, kind="gelu_tanh")
    x = g.layer_norm(x, width)
    last = g.op("Gather", [x, g.const(np.array(context - 1, np.int64))], axis=1)
    g.linear(last, width, width)
    g.save([helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch_size", "sequence_length"])],
           "pooler_output", width, path)


def distilbert(path):
    """clip-ViT-B-32-multilingual-v1's text tower: DistilBERT (multilingual cased vocabulary,
    512 positions, 6 layers of width 768 with 12 heads, post-norm, GELU), token states out."""
    g = Graph()
    width, heads = 768, 12
    ids, mask = "input_ids", "attention_mask"
    x = g.op("Gather", [g.weight((119547, width)), ids], axis=0)
    positions = g.op("Slice", [g.weight((512, width), std=0.01), g.const(np.array([0], np.int64)),
                               g.op("Gather", [g.op("Shape", [ids]), g.const(np.array([1], np.int64))])])
    x = g.layer_norm(g.op("Add", [x, positions]), width)
    # Padding gets -10000 before the softmax: [batch, 1, 1, tokens].
    keep = g.op("Cast", [g.op("Unsqueeze", [mask, g.const(np.array([1, 2], np.int64))])], to=TensorProto.FLOAT)
    additive = g.op("Mul", [g.op("Sub", [g.const(np.array(1.0, np.float32)), keep]), g.const(np.array(-10000.0, np.float32))])
    for _ in range(6):
        x = g.layer_norm(g.op("Add", [x, g.attention(x, x, width, heads, additive)]), width)
        x = g.layer_norm(g.op("Add", [x, g.mlp(x, width, "gelu_tanh")]), width)
    g.op("Identity", [x])
    g.nodes[-1].output[0] = "last_hidden_state"
    graph = helper.make_graph(
        g.nodes, path.stem,
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch_size", "sequence_length"]) for n in (ids, mask)],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", width])],
        g.inits)
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="photo-search bench model")
    model.ir_version = 8
    onnx.save(model, path)


def multilingual_query_encoder(out):
    """OUT/multilingual/: the query encoder's files, and its section appended to OUT's manifest."""
    import json
    import struct
    qdir = out / "multilingual"
    (qdir / "onnx").mkdir(parents=True, exist_ok=True)
    (qdir / "2_Dense").mkdir(parents=True, exist_ok=True)
    global RNG
    RNG = np.random.default_rng(50)
    fp32 = qdir / "onnx/model.onnx"
    distilbert(fp32)
    quantize_dynamic(fp32, qdir / "onnx/model_qint8.onnx", weight_type=QuantType.QInt8)
    fp32.unlink()
    weight = (RNG.standard_normal((512, 768)) * 768 ** -0.5).astype("<f4")
    header = json.dumps({"linear.weight": {"dtype": "F32", "shape": [512, 768], "data_offsets": [0, weight.nbytes]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    (qdir / "2_Dense/model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + weight.tobytes())
    # Costs do not depend on which ids a query has: test-color's WordPiece tokenizer stands in.
    shutil.copyfile(ROOT / "models/test-color/multilingual/tokenizer.json", qdir / "tokenizer.json")
    manifest = (out / "manifest.toml").read_text()
    manifest = manifest[: manifest.index("\n[query_encoders")] + "\n" if "[query_encoders" in manifest else manifest
    manifest += ('\n[query_encoders.multilingual]\nname = "Bench multilingual query encoder (random weights)"\n'
                 'graph = "multilingual/onnx/model_qint8.onnx"\n\n[query_encoders.multilingual.text]\n'
                 'tokenizer = "multilingual/tokenizer.json"\ncontext_length = 128\npad_id = 0\npadding = "longest"\n'
                 'pooling = "mean"\nprojection = "multilingual/2_Dense/model.safetensors"\n')
    for rel in ("multilingual/tokenizer.json", "multilingual/onnx/model_qint8.onnx", "multilingual/2_Dense/model.safetensors"):
        manifest += "\n" + pinned(out / rel, rel).replace("[[variants.{}.files]]", "[[query_encoders.multilingual.files]]")
    (out / "manifest.toml").write_text(manifest)
    print(f"multilingual bench query encoder written to {qdir}")


def siglip_model(out):
    """SigLIP B/16's exact architecture with random weights, in the transformers.js export's
    interface and files: fp32 and uint8 ("quantized"), which the app rewrites to signed int8."""
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    global RNG
    RNG = np.random.default_rng(16)
    siglip_vision(onnx_dir / "vision_model.onnx")
    siglip_text(onnx_dir / "text_model.onnx")
    for tower in ("vision", "text"):
        quantize_dynamic(onnx_dir / f"{tower}_model.onnx", onnx_dir / f"{tower}_model_quantized.onnx",
                         weight_type=QuantType.QUInt8)
    # The tokenizer is not needed to measure cost: the test model's SentencePiece one stands in.
    shutil.copyfile(ROOT / "models/test-squash/tokenizer.json", out / "tokenizer.json")
    write_manifest(out, "siglip-base-patch16-224", "bench-siglip-b16-random",
                   "Benchmark model: SigLIP B/16 architecture, random weights",
                   "Costs what SigLIP B/16 costs; finds nothing meaningful", (("int8", "_quantized"), ("fp32", "")))
    print(f"SigLIP bench model written to {out}")


def cheap_vision(path):
    g = Graph()
    pooled = g.op("AveragePool", ["pixel_values"], kernel_shape=[14, 14], strides=[14, 14])
    x = g.op("Reshape", [pooled, g.const(np.array([0, 3 * 16 * 16], np.int64))])
    x = g.op("Tanh", [g.linear(x, 768, 1024)])
    w2 = g.weight((1024, 512), std=1024 ** -0.5)
    g.op("MatMul", [x, w2])
    g.save([helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
           "image_embeds", 512, path)


def library_model(out, bench):
    """The whole-library benchmark model: cheap vision, the bench model's int8 text tower."""
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    # Wider first layer weights: pooled pixels are normalised to about [-2, 2].
    global RNG
    RNG = np.random.default_rng(7)
    cheap_vision(onnx_dir / "vision_model.onnx")
    shutil.copyfile(bench / "onnx/text_model_int8.onnx", onnx_dir / "text_model_int8.onnx")
    shutil.copyfile(bench / "tokenizer.json", out / "tokenizer.json")
    head = (bench / "manifest.toml").read_text()
    head = head[: head.index("[[files]]")]
    head = head.replace('id = "bench-clip-vit-b32-random"', 'id = "bench-library-cheap-vision"')
    head = head.replace('name = "Benchmark model: CLIP ViT-B/32 architecture, random weights"',
                        'name = "Library benchmark model: cheap random vision tower, CLIP ViT-B/32 text tower"')
    head = head.replace('description = "Costs what CLIP ViT-B/32 costs; finds nothing meaningful"',
                        'description = "Cheap generated vision tower for million-photo libraries; finds nothing meaningful"')
    head = "# " + "Library benchmark model (make_bench_model.py): NOT a real model.\n" + head
    text_out = head + pinned(out / "tokenizer.json", "tokenizer.json").replace("[[variants.{}.files]]", "[[files]]")
    text_out += '\n[variants.int8]\nvision = "onnx/vision_model.onnx"\ntext = "onnx/text_model_int8.onnx"\n'
    for rel in ("onnx/vision_model.onnx", "onnx/text_model_int8.onnx"):
        text_out += "\n" + pinned(out / rel, rel).format("int8")
    (out / "manifest.toml").write_text(text_out)
    print(f"library bench model written to {out}")


def write_manifest(out, real_id, bench_id, name, description, variants, default_gpu=None):
    """OUT/manifest.toml for a bench model: the real model's preprocessing and text settings, its
    own id, name and description, marked test_only, pinned to the files in OUT."""
    manifest = (ROOT / f"models/{real_id}.toml").read_text()
    head = manifest[manifest.index("id = "): manifest.index("[[files]]")]
    head = re.sub(r'^id = .*$', f'id = "{bench_id}"', head, flags=re.M)
    head = re.sub(r'^name = .*$', f'name = "{name}"\ntest_only = true', head, flags=re.M)
    head = re.sub(r'^description = .*$', f'description = "{description}"', head, flags=re.M)
    head = re.sub(r'^license = .*\n', "", head, flags=re.M)
    if default_gpu:
        head = re.sub(r'^default_gpu = .*$', f'default_gpu = "{default_gpu}"', head, flags=re.M)
    head = f"# Benchmark model: {name.split(': ')[1]} (make_bench_model.py). NOT a real model.\n" + head
    text_out = head + pinned(out / "tokenizer.json", "tokenizer.json").replace("[[variants.{}.files]]", "[[files]]")
    for precision, suffix in variants:
        text_out += f'\n[variants.{precision}]\nvision = "onnx/vision_model{suffix}.onnx"\ntext = "onnx/text_model{suffix}.onnx"\n'
        for tower in ("vision", "text"):
            rel = f"onnx/{tower}_model{suffix}.onnx"
            text_out += "\n" + pinned(out / rel, rel).format(precision)
    (out / "manifest.toml").write_text(text_out)


def pinned(path, rel):
    data = path.read_bytes()
    return f'[[variants.{{}}.files]]\npath = "{rel}"\nbytes = {len(data)}\nsha256 = "{hashlib.sha256(data).hexdigest()}"\n'


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".cache/bench-model"
    if "--siglip-only" in sys.argv:
        siglip_model(ROOT / ".cache/bench-model-siglip")
        return
    if "--multilingual-only" in sys.argv:
        multilingual_query_encoder(ROOT / ".cache/bench-model")
        return
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    vision(onnx_dir / "vision_model.onnx")
    text(onnx_dir / "text_model.onnx")
    for tower in ("vision", "text"):
        fp32 = onnx_dir / f"{tower}_model.onnx"
        quantize_dynamic(fp32, onnx_dir / f"{tower}_model_quantized.onnx", weight_type=QuantType.QUInt8)
        quantize_dynamic(fp32, onnx_dir / f"{tower}_model_int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
        # The GPU's precision, made as transformers.js makes its fp16 files (float inputs and
        # outputs kept, so the program feeds it as it feeds fp32).
        onnx.save(convert_float_to_float16(onnx.load(fp32), keep_io_types=True), onnx_dir / f"{tower}_model_fp16.onnx")
    shutil.copyfile(ROOT / "models/clip-vit-base-patch32/tokenizer.json", out / "tokenizer.json")
    # The manifest runs the signed int8 graphs; the uint8 ones are there for the encoder benchmark.
    write_manifest(out, "clip-vit-base-patch32", "bench-clip-vit-b32-random",
                   "Benchmark model: CLIP ViT-B/32 architecture, random weights",
                   "Costs what CLIP ViT-B/32 costs; finds nothing meaningful",
                   (("int8", "_int8"), ("fp16", "_fp16"), ("fp32", "")), default_gpu="fp16")
    print(f"bench model written to {out}")
    multilingual_query_encoder(out)
    library_model(out.with_name(out.name + "-library"), out)
    siglip_model(out.with_name(out.name + "-siglip"))


if __name__ == "__main__":
    main()
