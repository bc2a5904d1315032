#!/usr/bin/env python3
"""Reference timings for `lmkit bench tokenizer`: tiktoken and HF `tokenizers` on the same files LMKit uses.

encode: tiktoken encode_ordinary on the whole text (1 thread) and encode_ordinary_batch on the same chunks LMKit uses
        (cut after the first newline at or past every 64 KiB), num_threads=N; HF tokenizers encode_batch on those
        chunks with a tokenizer.json that LMKit wrote from the same rank file (RAYON_NUM_THREADS must be set by the
        caller, one process per thread count). Prints one JSON object per line.
train:  HF ByteLevelBPETokenizer().train(corpus, vocab_size, min_frequency=2) in this process; prints seconds and
        peak RSS (ru_maxrss) of this process.
Installs tiktoken/tokenizers with pip when missing.
"""
import argparse, json, os, resource, subprocess, sys, time

def ensure(*mods):
    for m, pip_name in mods:
        try: __import__(m)
        except ImportError: subprocess.run([sys.executable, "-m", "pip", "install", "-q", pip_name], check=True)

def chunks_of(text, size=65536):
    """Cut after the first newline at or past each `size` bytes (LMKit's TokenizerBenchmark.chunks uses the same rule)."""
    out, start, b = [], 0, text.encode()
    while start < len(b):
        end = b.find(b"\n", start + size)
        end = len(b) if end < 0 else end + 1
        out.append(b[start:end].decode()); start = end
    return out

def best_of(n, fn):
    best, result = float("inf"), None
    for _ in range(n):
        t = time.perf_counter(); result = fn(); best = min(best, time.perf_counter() - t)
    return best, result

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["tiktoken", "hf", "train"])
    ap.add_argument("--text"); ap.add_argument("--rank-file"); ap.add_argument("--tokenizer-json")
    ap.add_argument("--threads", type=int, default=1); ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--corpus"); ap.add_argument("--vocab-size", type=int)
    ap.add_argument("--compare", help="train: an LMKit tokenizer.json whose merges must equal HF's")
    a = ap.parse_args()
    if a.mode == "tiktoken":
        ensure(("tiktoken", "tiktoken"))
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
        pat = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        enc = tiktoken.Encoding(name="cl100k_base", pat_str=pat, mergeable_ranks=load_tiktoken_bpe(a.rank_file),
                                special_tokens={"<|endoftext|>": 100257})
        text = open(a.text, encoding="utf-8").read()
        mb = len(text.encode()) / 1e6
        if a.threads == 1:
            s, ids = best_of(a.repeats, lambda: enc.encode_ordinary(text))
            print(json.dumps({"tool": "tiktoken", "threads": 1, "seconds": s, "mb_per_s": mb / s, "tokens": len(ids)}))
        else:
            chunks = chunks_of(text)
            s, ids = best_of(a.repeats, lambda: enc.encode_ordinary_batch(chunks, num_threads=a.threads))
            print(json.dumps({"tool": "tiktoken", "threads": a.threads, "seconds": s, "mb_per_s": mb / s, "tokens": sum(map(len, ids))}))
    elif a.mode == "hf":
        ensure(("tokenizers", "tokenizers"))
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(a.tokenizer_json)
        text = open(a.text, encoding="utf-8").read()
        mb = len(text.encode()) / 1e6
        chunks = chunks_of(text)
        s, encs = best_of(1, lambda: tok.encode_batch(chunks, add_special_tokens=False))
        print(json.dumps({"tool": "hf_tokenizers", "threads": int(os.environ.get("RAYON_NUM_THREADS", "0")), "seconds": s,
                          "mb_per_s": mb / s, "tokens": sum(len(e.ids) for e in encs)}))
    else:
        ensure(("tokenizers", "tokenizers"))
        from tokenizers import ByteLevelBPETokenizer
        tok = ByteLevelBPETokenizer()
        t = time.perf_counter()
        tok.train([a.corpus], vocab_size=a.vocab_size, min_frequency=2, show_progress=False)
        s = time.perf_counter() - t
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of a big process reports the parent's size.
        rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
        result = {"tool": "hf_tokenizers_train", "vocab_size": a.vocab_size, "seconds": s, "peak_rss_mb": rss,
                  "threads": int(os.environ.get("RAYON_NUM_THREADS", "0"))}
        if a.compare:
            norm = lambda ms: [m if isinstance(m, str) else " ".join(m) for m in ms]
            theirs = norm(json.loads(tok.to_str())["model"]["merges"])
            ours = norm(json.load(open(a.compare, encoding="utf-8"))["model"]["merges"])
            first = next((i for i, (x, y) in enumerate(zip(ours, theirs)) if x != y), None)
            result["same_merges"] = ours == theirs
            result["merges_note"] = "identical" if ours == theirs else f"first difference at merge {first}; counts {len(ours)} vs {len(theirs)}"
        print(json.dumps(result))

if __name__ == "__main__":
    main()
