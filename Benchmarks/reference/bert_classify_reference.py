"""transformers' side of `lmkit predict`: loads a BertForSequenceClassification directory (what `lmkit finetune`
writes to OUT/best) with AutoTokenizer + AutoModelForSequenceClassification.from_pretrained, classifies a JSONL file
({"text", optional "text_pair", optional "label"}) and prints the same JSON lines as `lmkit predict`
({"label", "probabilities"}), then accuracy and macro-F1 on stderr when every line has a label. With --compare FILE
(the output of `lmkit predict`), prints the largest probability difference and the number of differing labels.
Run: python3 Benchmarks/reference/bert_classify_reference.py MODEL_DIR INPUT.jsonl [--compare lmkit.jsonl]
"""
import argparse, json, sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def macro_f1(pred, gold):
    classes = sorted(set(pred) | set(gold))
    scores = []
    for c in classes:
        tp = sum(p == c and g == c for p, g in zip(pred, gold))
        fp = sum(p == c and g != c for p, g in zip(pred, gold))
        fn = sum(p != c and g == c for p, g in zip(pred, gold))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("--compare")
    args = ap.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    rows = [json.loads(line) for line in open(args.input) if line.strip()]
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    out = []
    with torch.no_grad():
        for r in rows:
            enc = tokenizer(r["text"], r.get("text_pair"), truncation=True, max_length=tokenizer.model_max_length, return_tensors="pt")
            p = torch.softmax(model(**enc).logits[0], -1).tolist()
            out.append({"label": labels[max(range(len(p)), key=p.__getitem__)], "probabilities": dict(zip(labels, p))})
    for o in out:
        print(json.dumps(o, sort_keys=True))
    if all("label" in r for r in rows):
        gold = [str(r["label"]) for r in rows]
        pred = [o["label"] for o in out]
        acc = sum(p == g for p, g in zip(pred, gold)) / len(gold)
        print(f"{len(gold)} examples: accuracy {acc:.4f}, macro-F1 {macro_f1(pred, gold):.4f}", file=sys.stderr)
    if args.compare:
        theirs = [json.loads(line) for line in open(args.compare) if line.strip()]
        diff = max(abs(a["probabilities"][k] - b["probabilities"][k]) for a, b in zip(out, theirs) for k in labels)
        differing = sum(a["label"] != b["label"] for a, b in zip(out, theirs))
        print(f"vs {args.compare}: max |probability difference| {diff:.2e}, {differing} differing labels of {len(out)}", file=sys.stderr)


if __name__ == "__main__":
    main()
