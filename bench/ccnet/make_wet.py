#!/usr/bin/env python3
"""Builds benchmark WET files by wrapping real sentences into WET records.

Each sentence file TEXT_DIR/<lang>.txt contains real sentences of one language, one per line.
A document is in one language. Its shape follows cc_net's own output on real crawls (the
RedPajama sample of cc_net documents in allenai/dolma's tests: median 103 lines and 6.1 KB
before dedup, about 70 bytes per line): a title line and a log-normal number of lines (median
90), 80% of them short navigation-like lines (the first 1 to 5 words of a sentence) drawn from
a per-language pool of 3000 that repeats across documents, 20% paragraphs of 2 or 3 random
sentences. Records are written as
Common Crawl writes WET files: CRLF headers, an LF body ending with a newline, CRLF CRLF after the
body, one gzip member per record. The headers are in the order of the 2019 dumps by default,
because cc_net reads headers by position and finds no document in the newer order
(--new-headers adds WARC-Identified-Content-Language as newer dumps do).
The output is the same for the same arguments.

    make_wet.py --text-dir DIR --out DIR --files 4 --mb-per-file 60
"""
import argparse
import gzip
import hashlib
import math
import random
import sys
from pathlib import Path

WEIGHTS = {"en": 0.4, "de": 0.15, "fr": 0.15, "ru": 0.15, "zh": 0.15}
ISO3 = {"en": "eng", "de": "deu", "fr": "fra", "ru": "rus", "zh": "zho"}


def load(text_dir):
    pools = {}
    for path in sorted(Path(text_dir).glob("*.txt")):
        lines = [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if len(l.strip()) >= 20]
        if lines:
            pools[path.stem] = lines
    if not pools:
        sys.exit(f"make_wet.py: no sentence files *.txt in {text_dir}")
    return pools


def short_line(rng, sentence):
    # Chinese has no spaces: take the first 4 to 20 characters instead of words.
    words = sentence.split()
    if len(words) <= 1:
        return sentence[: rng.randint(4, 20)]
    return " ".join(words[: rng.randint(1, 5)])


def document(rng, sentences, boilerplate, serial):
    title = f"{rng.choice(sentences)[:60]} - site {serial % 997}"
    count = max(10, min(600, int(rng.lognormvariate(math.log(90), 0.6))))
    lines = []
    for _ in range(count):
        if rng.random() < 0.8:
            lines.append(rng.choice(boilerplate))
        else:
            lines.append(" ".join(rng.choice(sentences) for _ in range(rng.randint(2, 3))))
    return title + "\n" + "\n".join(lines) + "\n"


def record(url, date, lang, body, new_headers):
    data = body.encode("utf-8")
    digest = hashlib.sha1(data).hexdigest().upper()[:32]
    headers = (
        "WARC/1.0\r\n"
        "WARC-Type: conversion\r\n"
        f"WARC-Target-URI: {url}\r\n"
        f"WARC-Date: {date}\r\n"
        f"WARC-Record-ID: <urn:uuid:{digest[:8]}-0000-4000-8000-{digest[8:20]}>\r\n"
        "WARC-Refers-To: <urn:uuid:00000000-0000-4000-8000-000000000000>\r\n"
        f"WARC-Block-Digest: sha1:{digest}\r\n"
        + (f"WARC-Identified-Content-Language: {ISO3.get(lang, lang)}\r\n" if new_headers else "")
        + "Content-Type: text/plain\r\n"
        f"Content-Length: {len(data)}\r\n"
        "\r\n"
    )
    return headers.encode("ascii") + data + b"\r\n\r\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--mb-per-file", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--new-headers", action="store_true",
                        help="add WARC-Identified-Content-Language (cc_net cannot read these files)")
    args = parser.parse_args()

    pools = load(args.text_dir)
    rng = random.Random(args.seed)
    langs = [l for l in WEIGHTS if l in pools] or sorted(pools)
    weights = [WEIGHTS.get(l, 1.0) for l in langs]
    boilerplate = {l: [short_line(rng, rng.choice(pools[l])) for _ in range(3000)] for l in langs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    serial = 0
    total = 0
    for f in range(args.files):
        path = out / f"bench-{f:04d}.warc.wet.gz"
        written = 0
        with open(path, "wb") as o:
            while written < args.mb_per_file * 1e6:
                lang = rng.choices(langs, weights)[0]
                body = document(rng, pools[lang], boilerplate[lang], serial)
                url = f"http://site{serial % 997}.example/{lang}/{serial}"
                date = f"2019-03-{18 + f:02d}T{(serial // 3600) % 24:02d}:{(serial // 60) % 60:02d}:{serial % 60:02d}Z"
                data = record(url, date, lang, body, args.new_headers)
                o.write(gzip.compress(data, compresslevel=6, mtime=0))
                written += len(data)
                serial += 1
        total += written
        print(f"{path}: {written / 1e6:.1f} MB uncompressed", file=sys.stderr)
    print(f"make_wet.py: {serial} records, {total / 1e6:.1f} MB of WET (uncompressed)", file=sys.stderr)


if __name__ == "__main__":
    main()
