"""The Python reference indexer the benchmarks compare against: Pillow + onnxruntime, as peers
(rclip, Immich's ML service) do it. N worker processes each decode a batch and encode it on a
one-thread ONNX Runtime session.

  --mode full   Pillow full decode + EXIF transpose + bicubic resize (what peers do)
  --mode draft  Pillow's DCT-domain "draft" decode to the smallest size covering 224 px first

Prints one line: images/s over the folder. Run:
  python scripts/bench/reference_pipeline.py DIR VISION.onnx --mode full|draft [--workers 2] [--batch 8]
(needs pillow, numpy, onnxruntime)
"""
import argparse
import multiprocessing as mp
import pathlib
import time

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32).reshape(3, 1, 1)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32).reshape(3, 1, 1)
SIZE = 224


def preprocess(path, draft):
    with Image.open(path) as img:
        if draft:
            img.draft("RGB", (SIZE, SIZE))
        img = ImageOps.exif_transpose(img).convert("RGB")
    w, h = img.size
    scale = SIZE / min(w, h)
    img = img.resize((max(SIZE, int(w * scale)), max(SIZE, int(h * scale))), Image.BICUBIC)
    left, top = (img.width - SIZE) // 2, (img.height - SIZE) // 2
    img = img.crop((left, top, left + SIZE, top + SIZE))
    x = np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0
    return (x - MEAN) / STD


SESSION = None


def init(model):
    global SESSION
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    SESSION = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def worker(args):
    paths, draft, batch = args
    name = SESSION.get_inputs()[0].name
    for i in range(0, len(paths), batch):
        SESSION.run(None, {name: np.stack([preprocess(p, draft) for p in paths[i:i + batch]])})
    return len(paths)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("model")
    parser.add_argument("--mode", choices=["full", "draft"], default="full")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    exts = {".jpg", ".jpeg"}
    paths = sorted(str(p) for p in pathlib.Path(args.dir).rglob("*") if p.suffix.lower() in exts)
    shards = [(paths[i::args.workers], args.mode == "draft", args.batch) for i in range(args.workers)]
    with mp.get_context("spawn").Pool(args.workers, initializer=init, initargs=(args.model,)) as pool:
        pool.map(worker, [(s[0][:1], s[1], 1) for s in shards], chunksize=1)  # warm up
        started = time.perf_counter()
        done = sum(pool.map(worker, shards, chunksize=1))
        elapsed = time.perf_counter() - started
    print(f"reference ({args.mode} decode, {args.workers} workers, batch {args.batch}): {done / elapsed:.1f} images/s")


if __name__ == "__main__":
    main()
