"""Writes tests/reference/quint8/graph.onnx: a small graph with uint8 weights as transformers.js
"quantized" exports have them, for the signed-int8 rewrite's tests (crates/core/tests/signed.rs).

It holds every case the rewrite must get right:
  - a ConvInteger with a uint8 weight and a scalar uint8 zero point (the patch embedding);
  - a MatMulInteger with per-column uint8 zero points;
  - a MatMulInteger with no zero points at all (two inputs), weights stored as int32_data;
  - a MatMulInteger with the input's zero point but none for the weight (three inputs);
  - a uint8 weight that a DequantizeLinear also reads: it must be left as it is.
Random weights (seeded); it computes nothing meaningful.

Run: python tests/reference/make_quint8_graph.py   (needs numpy and onnx)
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = pathlib.Path(__file__).resolve().parent / "quint8" / "graph.onnx"
RNG = np.random.default_rng(8)
nodes, inits = [], []


def u8(name, shape, raw=True):
    values = RNG.integers(0, 256, shape, dtype=np.uint8)
    if raw:
        inits.append(numpy_helper.from_array(values, name))
    else:
        inits.append(helper.make_tensor(name, TensorProto.UINT8, list(shape), values.flatten().tolist()))
    return name


def f32(name, value):
    inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
    return name


def node(op, inputs, outputs, **attrs):
    nodes.append(helper.make_node(op, inputs, outputs, **attrs))
    return outputs[0]


def quantize(x, tag):
    node("DynamicQuantizeLinear", [x], [f"{tag}_q", f"{tag}_scale", f"{tag}_zp"])
    return f"{tag}_q", f"{tag}_scale", f"{tag}_zp"


def to_float(acc, scale, weight_scale, tag):
    cast = node("Cast", [acc], [f"{tag}_cast"], to=TensorProto.FLOAT)
    both = node("Mul", [scale, f32(f"{tag}_wscale", 0.01)], [f"{tag}_scales"])
    return node("Mul", [cast, both], [f"{tag}_out"])


xq, xs, xzp = quantize("pixels", "x")
conv = node("ConvInteger", [xq, u8("conv_w", (4, 3, 2, 2)), xzp, u8("conv_zp", ())], ["conv_acc"], strides=[2, 2])
conv = to_float(conv, xs, 0.01, "conv")
flat = node("Reshape", [conv, "flat_shape"], ["flat"])
inits.append(numpy_helper.from_array(np.array([0, 64], np.int64), "flat_shape"))
hq, hs, hzp = quantize(flat, "h")
h = to_float(node("MatMulInteger", [hq, u8("w1", (64, 16)), hzp, u8("w1_zp", (16,))], ["h_acc"]), hs, 0.01, "h")
h = node("Relu", [h], ["h_relu"])
gq, gs, gzp = quantize(h, "g")
a = to_float(node("MatMulInteger", [gq, u8("w2", (16, 8), raw=False)], ["a_acc"]), gs, 0.01, "a")
b = to_float(node("MatMulInteger", [gq, u8("w3", (16, 8)), gzp], ["b_acc"]), gs, 0.01, "b")
c = to_float(node("MatMulInteger", [gq, u8("w4", (16, 8)), gzp, u8("w4_zp", ())], ["c_acc"]), gs, 0.01, "c")
shared = node("DequantizeLinear", ["w4", f32("w4_scale", 0.02), "w4_zp"], ["w4_float"])
d = node("MatMul", [h, shared], ["d_out"])
y = node("Add", [node("Add", [a, b], ["ab"]), node("Add", [c, d], ["cd"])], ["embeds"])

graph = helper.make_graph(
    nodes, "quint8_test", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, 8, 8])],
    [helper.make_tensor_value_info("embeds", TensorProto.FLOAT, ["batch", 8])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="photo-search tests")
model.ir_version = 8
onnx.checker.check_model(model)
OUT.parent.mkdir(parents=True, exist_ok=True)
onnx.save(model, OUT)
print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
