#!/usr/bin/env python3
"""Runs datatrove's Gopher filters on the documents that `ccnet-filter mine --quality --explain`
evaluated, times them, and compares every decision with ccnet-filter's.

The documents come from the mine output directory: the kept ones in <lang>.json.gz and the
rejected ones in rejected_quality.json.gz. Each is evaluated as mine evaluates it, the title
line and raw_content joined by a newline. datatrove runs GopherRepetitionFilter, then
GopherQualityFilter, with default thresholds, in the order of its FineWeb pipeline, and stops
at the first failure as mine does.

datatrove 0.10.0 splits English words with spaCy's blank English tokenizer, which Debian 12 does
not package. This script gives both filters a word tokenizer that is Python's str.split(),
which is how ccnet-filter splits words, so the two sides apply the same definitions.
datatrove imports huggingface_hub, also not in Debian, only for remote files, so an empty module
replaces it.

    quality_reference.py DATATROVE_SRC MINE_OUTPUT_DIR [REPEATS]
"""
import gzip
import json
import sys
import time
import types
from pathlib import Path


def stub_huggingface_hub():
    for name in ("huggingface_hub", "huggingface_hub.utils", "huggingface_hub.hf_api", "huggingface_hub.errors"):
        module = types.ModuleType(name)
        module.__getattr__ = lambda attribute: type(attribute, (), {})
        module.__path__ = []
        sys.modules[name] = module


def load_documents(directory):
    texts, ours = [], []
    for path in sorted(Path(directory).glob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                doc = json.loads(line)
                texts.append(doc["title"] + "\n" + doc["raw_content"])
                ours.append(doc["quality"])
    return texts, ours


# datatrove's reasons under ccnet-filter's rule names.
REASONS = {
    "gopher_short_doc": "min_doc_words",
    "gopher_long_doc": "max_doc_words",
    "gopher_below_avg_threshold": "min_avg_word_length",
    "gopher_above_avg_threshold": "max_avg_word_length",
    "gopher_too_many_hashes": "max_hash_word_ratio",
    "gopher_too_many_ellipsis": "max_ellipsis_word_ratio",
    "gopher_too_many_bullets": "max_bullet_lines_ratio",
    "gopher_too_many_end_ellipsis": "max_ellipsis_lines_ratio",
    "gopher_below_alpha_threshold": "min_alpha_words_ratio",
    "gopher_enough_stop_words": "min_stop_words",
}


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.splitlines()[-1].strip())
    sys.path.insert(0, sys.argv[1])
    repeats = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    stub_huggingface_hub()
    from datatrove.data import Document
    from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
    from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
    from datatrove.utils.word_tokenizers import WordTokenizer

    class StrSplitTokenizer(WordTokenizer):
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    tokenizer = StrSplitTokenizer()
    filters = [GopherRepetitionFilter(language=tokenizer), GopherQualityFilter(language=tokenizer)]
    texts, ours = load_documents(sys.argv[2])
    if not texts:
        sys.exit(f"quality_reference.py: no documents in {sys.argv[2]}")

    def evaluate():
        results = []
        for i, text in enumerate(texts):
            doc = Document(text=text, id=str(i))
            verdict = (True, "")
            for f in filters:
                result = f.filter(doc)
                if result is not True:
                    verdict = (False, result[1] if isinstance(result, tuple) else "")
                    break
            results.append(verdict)
        return results

    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        results = evaluate()
        seconds.append(time.process_time() - start)

    agree = 0
    mismatches = []
    for i, ((passed, reason), quality) in enumerate(zip(results, ours)):
        rule = REASONS.get(reason, reason.replace("duplicated_", "dup_").replace("_n_grams", "_gram"))
        same = passed == quality["passed"] and (passed or rule in quality["failed"])
        agree += same
        if not same and len(mismatches) < 5:
            mismatches.append(f"document {i}: datatrove {passed} {reason!r}, ccnet-filter {quality}")
    median = sorted(seconds)[len(seconds) // 2]
    print(f"documents\t{len(texts)}")
    print(f"datatrove_passed\t{sum(p for p, _ in results)}")
    print(f"same_decision\t{agree}")
    print(f"datatrove_cpu_seconds\t{median:.3f}\t(median of {' '.join(f'{s:.3f}' for s in seconds)})")
    for line in mismatches:
        print(line, file=sys.stderr)


if __name__ == "__main__":
    main()
