#!/usr/bin/env python3
"""Cross-check `lmkit finetune` and `lmkit predict` against transformers' BertForSequenceClassification.

1. transformers writes a tiny seeded BERT (save_pretrained: config.json, model.safetensors, vocab.txt, tokenizer files).
2. `lmkit finetune --model DIR` trains it on a synthetic two-label JSONL task (a sentence is "pos" when it contains
   "good", "neg" when it contains "bad") and writes OUT/best and OUT/eval_results.jsonl.
3. transformers loads OUT/best with AutoModelForSequenceClassification / AutoTokenizer: its labels are the task's,
   and its softmax probabilities on the eval texts equal what `lmkit predict --model OUT/best` prints (1e-4).
4. The fine-tuned model has learned the rule: eval accuracy ≥ 0.9 (half the texts are "pos").
"""
import json, os, random, re, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import args, ensure, lmkit

WORDS = ["the", "movie", "film", "was", "is", "really", "quite", "plot", "actors", "very", "story", "ending",
         "music", "and", "but", "a", "bit", "long", "short", "funny", "scene"]

def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 10))]
    positive = rng.random() < 0.5
    words.insert(rng.randrange(len(words) + 1), "good" if positive else "bad")
    return " ".join(words), ("pos" if positive else "neg")

def main():
    a = args()
    ensure(("torch", "torch"), ("transformers", "transformers"), ("safetensors", "safetensors"))
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel,
                              BertTokenizerFast)
    torch.manual_seed(0)
    base, out = os.path.join(a.workdir, "base"), os.path.join(a.workdir, "out")
    os.makedirs(base)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["good", "bad"]
    with open(os.path.join(base, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(base)
    # Positional: transformers 5 names the argument `vocab`, 4 named it `vocab_file` (5 ignores that name silently).
    BertTokenizerFast(os.path.join(base, "vocab.txt")).save_pretrained(base)

    rng = random.Random(0)
    def write(path, n):
        rows = [dict(zip(("text", "label"), sentence(rng))) for _ in range(n)]
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        return rows
    train = write(os.path.join(a.workdir, "train.jsonl"), 600)
    evals = write(os.path.join(a.workdir, "eval.jsonl"), 100)

    log = lmkit(a.lmkit, "finetune", "--model", base, "--train", os.path.join(a.workdir, "train.jsonl"),
                "--eval", os.path.join(a.workdir, "eval.jsonl"), "--out", out, "--epochs", "3", "--batch-size", "16",
                "--learning-rate", "2e-3", "--warmup", "0.1", "--seed", "0", "--quiet")
    print(log.strip())
    best = os.path.join(out, "best")
    results = [json.loads(line) for line in open(os.path.join(out, "eval_results.jsonl"))]
    if len(results) != 3:
        sys.exit(f"eval_results.jsonl: expected 3 epochs, found {len(results)}")

    model = AutoModelForSequenceClassification.from_pretrained(best).eval()
    tokenizer = AutoTokenizer.from_pretrained(best)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if sorted(labels) != ["neg", "pos"]:
        sys.exit(f"OUT/best config id2label: expected neg/pos, found {labels}")
    texts = [r["text"] for r in evals]
    with torch.no_grad():
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        reference = torch.softmax(model(**enc).logits.double(), dim=-1).numpy()

    predicted = lmkit(a.lmkit, "predict", "--model", best, "--input", os.path.join(a.workdir, "eval.jsonl"))
    lines = [json.loads(line) for line in predicted.splitlines()]
    if len(lines) != len(evals):
        sys.exit(f"predict printed {len(lines)} lines for {len(evals)} inputs")
    worst = max(abs(line["probabilities"][label] - reference[i][j])
                for i, line in enumerate(lines) for j, label in enumerate(labels))
    print(f"predict vs transformers on OUT/best: max |Δp| = {worst:.2e} over {len(lines)} texts")
    if worst > 1e-4:
        sys.exit("lmkit predict and transformers disagree on the fine-tuned model")
    accuracy = sum(line["label"] == r["label"] for line, r in zip(lines, evals)) / len(evals)
    torch_accuracy = sum(labels[int(p.argmax())] == r["label"] for p, r in zip(reference, evals)) / len(evals)
    print(f"eval accuracy: lmkit predict {accuracy:.3f}, transformers {torch_accuracy:.3f}")
    if accuracy < 0.9:
        sys.exit(f"the fine-tuned model did not learn the rule: eval accuracy {accuracy:.3f} < 0.9")

if __name__ == "__main__":
    main()
