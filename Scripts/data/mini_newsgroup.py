"""The 20-newsgroups sample that ships in PyPI gensim's test data (gensim/test/test_data/mini_newsgroup, LGPL-2.1):
200 posts, 100 alt.atheism + 100 sci.space, a zlib-compressed pickle of a scikit-learn Bunch. Writes classification
JSONL for `lmkit finetune` / `lmkit predict`:

  data/mini_newsgroup/train.jsonl  160 posts   {"text": body, "label": "alt.atheism" | "sci.space"}
  data/mini_newsgroup/test.jsonl    40 posts   (20 per class; a seeded stratified split)
  data/mini_newsgroup/train.txt    the training bodies, one per line (for `lmkit tokenizer train`)

Bodies as scikit-learn's fetch_20newsgroups(remove=("headers", "quotes")) gives them: the header block (which names
the newsgroup) is dropped, and quoted lines ("> …", "| …", "… writes:") too; whitespace runs become one space.
The pickle is read with an unpickler that only admits the Bunch, dict and numpy array classes (no sklearn needed).
Run: python3 Scripts/data/mini_newsgroup.py  (downloads the gensim wheel with `pip download --no-deps` once, ~25 MB)
"""
import copyreg, glob, io, json, os, pickle, random, re, subprocess, sys, zipfile, zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "data", "mini_newsgroup")
DOWNLOADS = os.path.join(ROOT, "data", "downloads")


class Bunch(dict):
    pass


ALLOWED = {("sklearn.datasets.base", "Bunch"): Bunch, ("copy_reg", "_reconstructor"): copyreg._reconstructor,
           ("__builtin__", "dict"): dict, ("__builtin__", "object"): object,
           ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
           ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in mini_newsgroup")


QUOTE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def body(post):
    """sklearn's strip_newsgroup_header + strip_newsgroup_quoting, then one line."""
    _, _, rest = post.partition("\n\n")
    lines = [line for line in rest.split("\n") if not QUOTE.search(line)]
    return " ".join(" ".join(lines).split())


def main():
    wheels = glob.glob(os.path.join(DOWNLOADS, "gensim-*.whl"))
    if not wheels:
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "-d", DOWNLOADS, "gensim==4.4.0"])
        wheels = glob.glob(os.path.join(DOWNLOADS, "gensim-*.whl"))
    raw = zipfile.ZipFile(wheels[0]).read("gensim/test/test_data/mini_newsgroup")
    bunch = RestrictedUnpickler(io.BytesIO(zlib.decompress(raw)), encoding="latin1").load()
    names = bunch["target_names"]
    examples = [{"text": body(p), "label": names[int(t)]} for p, t in zip(bunch["data"], bunch["target"])]
    examples = [e for e in examples if e["text"]]
    rng = random.Random(0)
    train, test = [], []
    for name in names:
        group = [e for e in examples if e["label"] == name]
        rng.shuffle(group)
        test += group[:20]
        train += group[20:]
    rng.shuffle(train)
    rng.shuffle(test)
    os.makedirs(OUT, exist_ok=True)
    for file, rows in (("train.jsonl", train), ("test.jsonl", test)):
        with open(os.path.join(OUT, file), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    with open(os.path.join(OUT, "train.txt"), "w") as f:
        f.writelines(r["text"] + "\n" for r in train)
    print(f"{OUT}: {len(train)} train, {len(test)} test posts; labels {names}")


if __name__ == "__main__":
    main()
