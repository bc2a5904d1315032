#!/usr/bin/env python3
"""sentence-transformers reference for `lmkit bench bert`: SentenceTransformer(model_dir).encode(sentences,
batch_size) on torch CPU with the given thread count, timed after one untimed warm-up encode of the first batch.
Writes the embeddings as .npy (so the benchmark can check both sides computed the same vectors) and prints one JSON
object: seconds for the whole encode and sentences per second. Needs sentence-transformers (pip)."""
import argparse, json, time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--sentences", required=True, help="text file, one sentence per line")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batch-size", type=int, default=32)
ap.add_argument("--output", required=True, help=".npy file for the embeddings")
a = ap.parse_args()
torch.set_num_threads(a.threads)
with open(a.sentences, encoding="utf-8") as f:
    sentences = f.read().split("\n")[:-1]
model = SentenceTransformer(a.model, device="cpu")
model.encode(sentences[:a.batch_size], batch_size=a.batch_size)
t0 = time.perf_counter()
embeddings = model.encode(sentences, batch_size=a.batch_size)
seconds = time.perf_counter() - t0
np.save(a.output, embeddings.astype(np.float32))
print(json.dumps({"seconds": seconds, "sentences_per_second": len(sentences) / seconds}))
