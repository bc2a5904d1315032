#!/usr/bin/env python3
"""Cross-check of `lmkit ngram` against KenLM on a slice of tinyshakespeare (orders 3 and 5, and --prune 0 1 1):
every probability and back-off in LMKit's ARPA equals lmplz's to 1e-4, the Python `kenlm` module loading LMKit's ARPA
gives the sentence scores `lmkit ngram query` prints (1e-4), and LMKit's binary → ARPA round trip is lossless.
Builds lmplz/query from the kenlm sdist under /tmp (Scripts/fixtures/ngram_kenlm_build.py); exits 77 if it cannot.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from common import args, ensure, lmkit  # noqa: E402


def read_arpa(path):
    """{(order, words): (prob, backoff)} and the \\data\\ counts."""
    entries, counts, order = {}, [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line in ("\\data\\", "\\end\\"):
                continue
            if line.startswith("ngram "):
                counts.append(int(line.split("=")[1]))
                continue
            m = re.match(r"\\(\d+)-grams:", line)
            if m:
                order = int(m.group(1))
                continue
            fields = line.split("\t")
            prob, words = float(fields[0]), tuple(fields[1].split(" "))
            backoff = float(fields[2]) if len(fields) > 2 else 0.0
            entries[(order, words)] = (prob, backoff)
    return entries, counts


def compare_arpa(mine, reference, label, tolerance=1e-4, reference_name="lmplz"):
    a, ca = read_arpa(mine)
    b, cb = read_arpa(reference)
    if ca != cb:
        sys.exit(f"{label}: n-gram counts differ: lmkit {ca} vs {reference_name} {cb}")
    if a.keys() != b.keys():
        missing = list(b.keys() - a.keys())[:5]
        extra = list(a.keys() - b.keys())[:5]
        sys.exit(f"{label}: n-gram sets differ; missing {missing}, extra {extra}")
    worst = 0.0
    for key, (p, bo) in b.items():
        q, qb = a[key]
        worst = max(worst, abs(p - q), abs(bo - qb))
        if abs(p - q) > tolerance or abs(bo - qb) > tolerance:
            sys.exit(f"{label}: {key} lmkit ({q}, {qb}) vs {reference_name} ({p}, {bo})")
    print(f"{label}: {sum(ca)} n-grams equal to {reference_name} (max |diff| {worst:.2e})")


def main():
    a = args()
    try:
        import ngram_kenlm_build
        bindir = ngram_kenlm_build.build_binaries()
    except Exception as error:  # no apt / no network for the sdist: report as skipped, never as passed
        print(f"cannot build KenLM ({error}); skipping")
        sys.exit(77)
    ensure(("kenlm", "kenlm"))
    import kenlm

    root = os.path.join(HERE, "..", "..")
    corpus = os.path.join(a.workdir, "train.txt")
    test = os.path.join(a.workdir, "test.txt")
    with open(os.path.join(root, "data", "tinyshakespeare.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:4000]) + "\n")
    with open(test, "w", encoding="utf-8") as f:
        f.write("\n".join(l for l in lines[5000:5200] if l.strip()) + "\nzyzzyva and the flibbertigibbet\n")

    for order, prune in ((3, []), (5, []), (3, ["0", "1", "1"]), (5, ["0", "0", "1", "2", "2"])):
        label = f"order {order}" + (f" prune {' '.join(prune)}" if prune else "")
        reference = os.path.join(a.workdir, f"lmplz{order}.arpa")
        extra = ["--prune", *prune] if prune else []
        with open(corpus, "rb") as src, open(reference, "wb") as dst:
            subprocess.run([os.path.join(bindir, "lmplz"), "-o", str(order), "-S", "20%", "-T", a.workdir, *extra],
                           stdin=src, stdout=dst, stderr=subprocess.DEVNULL, check=True)
        mine = os.path.join(a.workdir, f"lmkit{order}.arpa")
        binary = os.path.join(a.workdir, f"lmkit{order}.lmkbin")
        lmkit(a.lmkit, "ngram", "build", "-o", str(order), "--text", corpus, "--arpa", mine, "--binary", binary,
              *(["--prune", *prune] if prune else []))
        compare_arpa(mine, reference, label)

        # Python kenlm reading LMKit's ARPA vs `lmkit ngram query` on the binary.
        model = kenlm.Model(mine)
        out = lmkit(a.lmkit, "ngram", "query", binary, "--text", test, "--verbosity", "sentence")
        totals = [float(m.group(1)) for m in re.finditer(r"Total: (\S+)", out)]
        with open(test, encoding="utf-8") as f:
            sentences = [l.rstrip("\n") for l in f]
        if len(totals) != len(sentences):
            sys.exit(f"{label}: lmkit scored {len(totals)} sentences, expected {len(sentences)}")
        worst = 0.0
        for sentence, total in zip(sentences, totals):
            expected = model.score(sentence, bos=True, eos=True)
            worst = max(worst, abs(expected - total))
            if abs(expected - total) > 1e-4:
                sys.exit(f"{label}: sentence {sentence!r}: lmkit {total} vs kenlm {expected}")
        ppl = float(re.search(r"Perplexity including OOVs:\t(\S+)", out).group(1))
        words = sum(len(s.split()) + 1 for s in sentences)
        expected_ppl = 10 ** (-sum(model.score(s) for s in sentences) / words)
        if abs(ppl - expected_ppl) > 1e-4 * expected_ppl:
            sys.exit(f"{label}: perplexity lmkit {ppl} vs kenlm {expected_ppl}")
        print(f"{label}: kenlm module on LMKit's ARPA agrees with lmkit query (max |diff| {worst:.2e}, ppl {ppl:.4f})")

        # Binary → ARPA round trip.
        back = os.path.join(a.workdir, f"back{order}.arpa")
        lmkit(a.lmkit, "ngram", "convert", binary, back)
        compare_arpa(back, mine, label + " binary → ARPA", tolerance=0.0, reference_name="LMKit's own ARPA")


if __name__ == "__main__":
    main()
