#!/usr/bin/env python3
"""Files LMKit writes load in HF `tokenizers` and give LMKit's ids.

1. `lmkit tokenizer train --type bpe` on tinyshakespeare -> tokenizer.json -> tokenizers.Tokenizer.from_file: same ids
   as `lmkit tokenizer encode` on awkward strings and English.
2. The committed cl100k/o200k/gpt2 subset rank files, converted by `lmkit tokenizer convert` to tokenizer.json: HF gives
   tiktoken's fixture ids (allowed_special="all") on the awkward-string corpus.
3. `lmkit tokenizer train --type wordpiece` -> tokenizer.json -> HF gives LMKit's ids ([CLS] … [SEP]).
4. The committed vocabulary without every byte token (SmolLM2's shape: Digits + ByteLevel, 21 bytes missing), rewritten
   by `lmkit tokenizer convert`: HF gives the fixture's ids on it, and `lmkit tokenizer encode --allow-special all` too.
"""
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import args, ensure, lmkit

def main():
    a = args()
    ensure(("tokenizers", "tokenizers"))
    from tokenizers import Tokenizer
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fixtures = os.path.join(root, "Tests", "Fixtures", "tokenizers")
    awkward = json.load(open(os.path.join(fixtures, "tiktoken_awkward.json"), encoding="utf-8"))
    texts = [s for s in awkward["strings"] if s]  # HF encodes "" fine, but an empty file is one line of output either way
    english = open(os.path.join(root, "data", "tinyshakespeare.txt"), encoding="utf-8").read()[:20000]
    inputs = []
    for i, t in enumerate(texts + [english]):
        p = os.path.join(a.workdir, f"in{i}.txt"); open(p, "w", encoding="utf-8").write(t); inputs.append((p, t))
    failures = 0

    # 1. trained byte-level BPE
    out = os.path.join(a.workdir, "bpe.json")
    lmkit(a.lmkit, "tokenizer", "train", "--input", os.path.join(root, "data", "tinyshakespeare.txt"), "--vocab-size", "2000",
          "--special", "<|endoftext|>", "--out", out, "--quiet")
    hf = Tokenizer.from_file(out)
    ours = lmkit(a.lmkit, "tokenizer", "encode", "-t", out, "--allow-special", "all", *[p for p, _ in inputs]).splitlines()
    for (p, t), line in zip(inputs, ours):
        want = hf.encode(t, add_special_tokens=False).ids
        if [int(x) for x in line.split()] != want:
            failures += 1; print(f"trained BPE differs on {t[:60]!r}")

    # 2. converted rank files
    for name in ["cl100k_base", "o200k_base", "gpt2"]:
        conv = os.path.join(a.workdir, f"{name}.json")
        lmkit(a.lmkit, "tokenizer", "convert", "-t", os.path.join(fixtures, f"subset_{name}.tiktoken"), "--encoding", name, "--out", conv)
        hf = Tokenizer.from_file(conv)
        for s, want in zip(awkward["strings"], awkward["encodings"][name]["all_special"]):
            got = hf.encode(s, add_special_tokens=False).ids
            if got != want:
                failures += 1; print(f"{name}: HF on LMKit's tokenizer.json gives {got} for {s!r}, tiktoken {want}")

    # 3. trained WordPiece
    out = os.path.join(a.workdir, "wp.json")
    lmkit(a.lmkit, "tokenizer", "train", "--type", "wordpiece", "--input", os.path.join(root, "data", "tinyshakespeare.txt"),
          "--vocab-size", "3000", "--out", out, "--quiet")
    hf = Tokenizer.from_file(out)
    ours = lmkit(a.lmkit, "tokenizer", "encode", "-t", out, *[p for p, _ in inputs]).splitlines()
    for (p, t), line in zip(inputs, ours):
        want = hf.encode(t).ids
        if [int(x) for x in line.split()] != want:
            failures += 1; print(f"trained WordPiece differs on {t[:60]!r}: {line[:80]} vs {want[:20]}")
    # 4. a vocabulary that lacks some single-byte tokens, through LMKit's writer
    reference = json.load(open(os.path.join(fixtures, "missing_bytes_ids.json"), encoding="utf-8"))
    conv = os.path.join(a.workdir, "missing_bytes.json")
    lmkit(a.lmkit, "tokenizer", "convert", "-t", os.path.join(fixtures, "missing_bytes_tokenizer.json"), "--out", conv)
    hf = Tokenizer.from_file(conv)
    cases = [(s, ids) for s, ids in zip(reference["strings"], reference["ids"]) if s]
    for i, (s, _) in enumerate(cases):
        open(os.path.join(a.workdir, f"mb{i}.txt"), "w", encoding="utf-8", newline="").write(s)
    ours = lmkit(a.lmkit, "tokenizer", "encode", "-t", conv, "--allow-special", "all",
                 *[os.path.join(a.workdir, f"mb{i}.txt") for i in range(len(cases))]).split("\n")
    for (s, want), line in zip(cases, ours):
        got = hf.encode(s).ids
        if got != want or [int(x) for x in line.split()] != want:
            failures += 1; print(f"missing-byte vocabulary: {s!r}: HF on LMKit's file {got}, lmkit {line}, fixture {want}")
    print(f"check_tokenizers: {failures} mismatches")
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
