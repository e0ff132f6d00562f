"""Checks that a CLIP text tower embeds a query the same at its own length as padded to 77
tokens (the manifest's `padding = "longest"`): CLIP's text encoder is causal and pooled at the
first EOS, so nothing after it can reach the embedding; an int8 graph differs only by its own
rounding (its activation scales are taken over the whole input).

Run: python scripts/bench/check_text_padding.py [MODEL_DIR]   (default .cache/bench-model, as
made by make_bench_model.py; needs numpy and onnxruntime)
"""
import pathlib
import sys

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parents[2]
BOS, EOS, CONTEXT = 49406, 49407, 77


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def main():
    onnx_dir = (pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".cache/bench-model") / "onnx"
    session = lambda name: ort.InferenceSession(str(onnx_dir / name), providers=["CPUExecutionProvider"])
    fp32, int8 = session("text_model.onnx"), session("text_model_int8.onnx")
    rng = np.random.default_rng(2)
    padded_vs_own = {"fp32": [], "int8": []}
    int8_vs_fp32 = {"own length": [], "padded": []}
    for n in range(1, 30):
        tokens = [BOS] + list(rng.integers(300, 40000, n)) + [EOS]
        own = np.array([tokens], np.int64)
        padded = np.full((1, CONTEXT), EOS, np.int64)
        padded[0, : len(tokens)] = tokens
        run = lambda s, ids: s.run(None, {"input_ids": ids})[0][0]
        reference = run(fp32, own)
        padded_vs_own["fp32"].append(cosine(reference, run(fp32, padded)))
        padded_vs_own["int8"].append(cosine(run(int8, own), run(int8, padded)))
        int8_vs_fp32["own length"].append(cosine(run(int8, own), reference))
        int8_vs_fp32["padded"].append(cosine(run(int8, padded), reference))
    for name, values in padded_vs_own.items():
        print(f"{name}: padded vs own length, cosine min {min(values):.7f} mean {np.mean(values):.7f}")
    for name, values in int8_vs_fp32.items():
        print(f"int8 vs fp32, {name}: cosine min {min(values):.5f} mean {np.mean(values):.5f}")
    assert min(padded_vs_own["fp32"]) > 0.99999, "padding changed the fp32 embedding: not a causal, EOS-pooled tower"


if __name__ == "__main__":
    main()
