#!/usr/bin/env python3
"""Reference side of `lmkit bench ngram`: prepares the gcide corpus and times KenLM on it.

  prepare --out DIR --words N   writes DIR/train.txt (first N words of Debian dict-gcide, one line per sentence:
                                the dictionary's non-empty lines, lowercased) and DIR/test.txt (the next N/4 words);
                                installs dict-gcide with apt when /usr/share/dictd/gcide.dict.dz is missing.
  lmplz --out DIR --order N     runs `lmplz -o N -S 1G` (built from the kenlm sdist under /tmp by
                                Scripts/fixtures/ngram_kenlm_build.py) and prints JSON: wall seconds, peak RSS (wait4).
  query --model ARPA --text F   times the Python `kenlm` module (Model.score per sentence, bos and eos) and prints JSON:
                                tokens (words + </s>), seconds, log10 total.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Scripts", "fixtures"))
import ngram_kenlm_build  # noqa: E402

GCIDE = "/usr/share/dictd/gcide.dict.dz"


def prepare(out, words):
    if not os.path.exists(GCIDE):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", "dict-gcide"],
                       check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    os.makedirs(out, exist_ok=True)
    text = gzip.open(GCIDE).read().decode("utf-8", "replace")
    train, test, count = [], [], 0
    for line in text.split("\n"):
        tokens = line.lower().split()
        if not tokens:
            continue
        if count < words:
            train.append(" ".join(tokens))
        elif count < words + words // 4:
            test.append(" ".join(tokens))
        else:
            break
        count += len(tokens)
    for name, lines in (("train.txt", train), ("test.txt", test)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    print(json.dumps({"train_words": min(count, words), "train_lines": len(train), "test_lines": len(test)}))


def run_lmplz(out, order):
    bindir = ngram_kenlm_build.build_binaries()
    with open(os.path.join(out, "train.txt"), "rb") as src, open(os.path.join(out, "lmplz.arpa"), "wb") as dst, \
            open(os.path.join(out, "lmplz.log"), "wb") as log:
        start = time.perf_counter()
        proc = subprocess.Popen([os.path.join(bindir, "lmplz"), "-o", str(order), "-S", "1G", "-T", out],
                                stdin=src, stdout=dst, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"lmplz failed (status {status}); see {out}/lmplz.log")
    print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_kb": usage.ru_maxrss,
                      "arpa": os.path.join(out, "lmplz.arpa")}))


def run_query(model_path, text_path):
    kenlm = ngram_kenlm_build.ensure_python_module()
    model = kenlm.Model(model_path)
    with open(text_path, encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f]
    best = None
    for _ in range(5):
        start = time.perf_counter()
        total = 0.0
        for sentence in sentences:
            total += model.score(sentence, bos=True, eos=True)
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    tokens = sum(len(s.split()) + 1 for s in sentences)
    print(json.dumps({"tokens": tokens, "seconds": best, "log10_total": total}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["prepare", "lmplz", "query"])
    ap.add_argument("--out")
    ap.add_argument("--words", type=int, default=2_000_000)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--model")
    ap.add_argument("--text")
    a = ap.parse_args()
    if a.action == "prepare":
        prepare(a.out, a.words)
    elif a.action == "lmplz":
        run_lmplz(a.out, a.order)
    else:
        run_query(a.model, a.text)


if __name__ == "__main__":
    main()
