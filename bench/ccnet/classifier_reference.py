#!/usr/bin/env python3
"""The reference side of bench/ccnet/classifier.sh: RedPajama's classifier steps in Python.

    classifier_reference.py corpus OUT_DIR ROOT...
        Writes the first 1,000 documents of each label to OUT_DIR/wiki.txt and OUT_DIR/cc.txt,
        one document per line, for train-classifier. OUT_DIR/train.txt gets the same lines with
        __label__wiki and __label__cc, for `fasttext supervised`. The documents are those of
        make_doc_wet.py under ROOT: licence and copyright texts as __label__wiki, change logs,
        NEWS and READMEs as __label__cc. Lines are joined as RedPajama's create_corpus.py joins
        them (" ".join(text.splitlines())).

    classifier_reference.py classify MODEL MINE_OUTPUT_DIR [REPEATS]
        Runs RedPajama's classify.py steps on the raw_content of every document that
        `ccnet-filter mine --ref-model MODEL --ref-threshold 0` wrote, with Debian's
        python3-fasttext: fasttext.load_model, then per document
        " ".join(raw_content.strip().splitlines()), model.predict, and wiki_prob = p, or 1 - p
        when the top label is __label__cc. Prints the CPU seconds of those steps (median of
        REPEATS) and how many of mine's ref_score values equal wiki_prob rounded to 4 decimals.
"""
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_doc_wet import documents  # noqa: E402


def corpus(out_dir, roots, per_label=1000):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"wiki": 0, "cc": 0}
    with open(out / "wiki.txt", "w", encoding="utf-8") as wiki, open(out / "cc.txt", "w", encoding="utf-8") as cc, \
            open(out / "train.txt", "w", encoding="utf-8") as train:
        for path, _, body in documents(roots, max_lines=200, min_chars=300):
            label = "wiki" if "common-licenses" in path or path.endswith("/copyright") else "cc"
            if counts[label] == per_label:
                continue
            line = " ".join(body.splitlines())
            (wiki if label == "wiki" else cc).write(line + "\n")
            train.write(f"__label__{label} {line}\n")
            counts[label] += 1
    print(f"classifier_reference.py: {counts['wiki']} wiki and {counts['cc']} cc documents in {out_dir}",
          file=sys.stderr)


def classify(model_path, mine_dir, repeats):
    import fasttext

    contents, ours = [], []
    for path in sorted(Path(mine_dir).glob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                doc = json.loads(line)
                contents.append(doc["raw_content"])
                ours.append(doc["ref_score"])
    if not contents:
        sys.exit(f"classifier_reference.py: no documents in {mine_dir}")

    # The model is loaded inside the timing, as classify.py loads it per job and as mine's CPU
    # time includes its loading.
    def run():
        model = fasttext.load_model(model_path)
        scores = []
        for content in contents:
            text = " ".join(content.strip().splitlines())
            labels, probabilities = model.predict(text)
            wiki_prob = probabilities[0]
            if labels[0] == "__label__cc":
                wiki_prob = 1 - wiki_prob
            scores.append(wiki_prob)
        return scores

    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        scores = run()
        seconds.append(time.process_time() - start)

    # mine rounds half away from zero and Python's round() half to even, so compare within half
    # a unit of the 4th decimal.
    same = sum(abs(score - mine) <= 0.00005 + 1e-12 for score, mine in zip(scores, ours))
    median = sorted(seconds)[len(seconds) // 2]
    print(f"documents\t{len(contents)}")
    print(f"same_score\t{same}")
    print(f"redpajama_cpu_seconds\t{median:.3f}\t(median of {' '.join(f'{s:.3f}' for s in seconds)})")
    for i, (score, mine) in enumerate(zip(scores, ours)):
        if abs(score - mine) > 0.00005 + 1e-12:
            print(f"document {i}: wiki_prob {score:.6f}, ref_score {mine}", file=sys.stderr)
            break


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "corpus":
        corpus(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "classify":
        classify(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) == 5 else 3)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
