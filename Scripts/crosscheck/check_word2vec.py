#!/usr/bin/env python3
"""Cross-check LMKit word2vec with gensim 4.4: vector files written by `lmkit word2vec train` (text and binary) load in
gensim's KeyedVectors.load_word2vec_format with identical values; files gensim writes give the same `lmkit word2vec
similar` neighbours as gensim's most_similar; `lmkit word2vec analogy` / `evaluate` equal gensim's
evaluate_word_analogies (restrict_vocab 30000) / evaluate_word_pairs on gensim's questions-words.txt and wordsim353.tsv.
Corpus: gensim's test_data/lee_background.cor (60 K words), read from the installed gensim package, never committed.
"""
import os, re, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import args, ensure, lmkit

def main():
    a = args()
    ensure(("gensim", "gensim==4.4.0"), ("numpy", "numpy"), ("scipy", "scipy"))
    import numpy as np
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath
    corpus = datapath("lee_background.cor")
    out_txt, out_bin = os.path.join(a.workdir, "lee.txt"), os.path.join(a.workdir, "lee.bin")
    for path, fmt in [(out_txt, "text"), (out_bin, "binary")]:
        lmkit(a.lmkit, "word2vec", "train", "--input", corpus, "--output", path, "--format", fmt, "--size", "50",
              "--min-count", "2", "--epochs", "5", "--threads", "1", "--seed", "3", "--quiet")
    kt = KeyedVectors.load_word2vec_format(out_txt, binary=False)
    kb = KeyedVectors.load_word2vec_format(out_bin, binary=True)
    assert kt.index_to_key == kb.index_to_key, "text and binary vocabularies differ"
    assert np.array_equal(kt.vectors, kb.vectors), "text and binary vectors differ (same seed, 1 thread)"
    print(f"gensim loaded LMKit text and binary files: {len(kt)} x {kt.vector_size}, identical")

    # gensim writes, LMKit reads: most_similar must agree.
    g_txt, g_bin = os.path.join(a.workdir, "g.txt"), os.path.join(a.workdir, "g.bin")
    kt.save_word2vec_format(g_txt, binary=False); kt.save_word2vec_format(g_bin, binary=True)
    for word in ["the", "police", "government", "fire"]:
        expected = [w for w, _ in kt.most_similar(word, topn=5)]
        for path in (g_txt, g_bin):
            got = [l.split("\t")[0] for l in lmkit(a.lmkit, "word2vec", "similar", "--vectors", path, word, "--topn", "5").splitlines()]
            assert got == expected, f"most_similar({word}) on {path}: lmkit {got} vs gensim {expected}"
    expected = [w for w, _ in kt.most_similar(positive=["police", "fire"], negative=["government"], topn=5)]
    got = [l.split("\t")[0] for l in lmkit(a.lmkit, "word2vec", "similar", "--vectors", g_bin, "police", "fire",
                                            "--negative", "government", "--topn", "5").splitlines()]
    assert got == expected, f"most_similar with negative: lmkit {got} vs gensim {expected}"
    print("lmkit similar on gensim-written files == gensim most_similar")

    score, sections = kt.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)
    text = lmkit(a.lmkit, "word2vec", "analogy", "--vectors", out_bin, "--questions", datapath("questions-words.txt"))
    ours = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(r"^(.*): [\d.]+% \((\d+)/(\d+)\)$", text, re.M)}
    for s in sections:
        c, n = len(s["correct"]), len(s["correct"]) + len(s["incorrect"])
        assert ours.get(s["section"]) == (c, n), f"analogy section {s['section']}: lmkit {ours.get(s['section'])} vs gensim {(c, n)}"
    print(f"lmkit analogy == gensim evaluate_word_analogies in all {len(sections)} sections (total {score:.4f})")

    pearson, spearman, oov = kt.evaluate_word_pairs(datapath("wordsim353.tsv"))
    text = lmkit(a.lmkit, "word2vec", "evaluate", "--vectors", out_txt, "--pairs", datapath("wordsim353.tsv"))
    ours_s = float(re.search(r"spearman (\S+)", text).group(1)); ours_p = float(re.search(r"pearson (\S+)", text).group(1))
    assert abs(ours_s - spearman[0]) < 1e-3 and abs(ours_p - pearson[0]) < 1e-3, f"wordsim: lmkit {ours_s},{ours_p} vs gensim {spearman[0]},{pearson[0]}"
    print(f"lmkit evaluate == gensim evaluate_word_pairs (spearman {spearman[0]:.4f}, pearson {pearson[0]:.4f}, oov {oov:.1f}%)")

    # Malformed input: errors name the file, exit non-zero, no crash.
    bad = os.path.join(a.workdir, "bad.txt")
    with open(bad, "w") as f:
        f.write("2 3\na 1 2 3\nb 1 2\n")
    import subprocess
    r = subprocess.run([a.lmkit, "word2vec", "similar", "--vectors", bad, "a"], capture_output=True, text=True)
    assert r.returncode == 1 and "bad.txt:3:" in r.stderr, f"malformed file: rc {r.returncode}, stderr {r.stderr!r}"
    print("malformed vector file rejected with file:line")

if __name__ == "__main__":
    main()
