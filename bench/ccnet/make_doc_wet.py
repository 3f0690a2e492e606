#!/usr/bin/env python3
"""Builds a WET file of real documents from a machine's Debian documentation.

Each document is the text of one file under the given directories (`copyright`, `README*`,
`NEWS*`, `changelog*` and `*.txt`, gzip-compressed ones decompressed), or one piece of up to
--max-lines lines of a longer file. These are real texts with the shapes that the Gopher rules
test: prose licences, bulleted change logs full of repeated lines, short notes, tables of
symbols. Files are read in sorted path order and the output is the same for the same files.
Records are written as Common Crawl writes WET files: CRLF headers in the 2019 order, an LF body
whose first line is the title, one gzip member per record.

    make_doc_wet.py --out docs.warc.wet.gz --max-docs 20000 /usr/share/doc /usr/share/common-licenses
"""
import argparse
import gzip
import hashlib
import os
import sys
from pathlib import Path

PATTERNS = ("copyright", "README", "NEWS", "changelog")


def is_document_file(path):
    name = path.name.lower()
    return name.startswith(tuple(p.lower() for p in PATTERNS)) or name.endswith((".txt", ".txt.gz"))


def read_text(path):
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def documents(roots, max_lines, min_chars):
    seen = set()
    for root in roots:
        for directory, _, files in sorted(os.walk(root)):
            for name in sorted(files):
                path = Path(directory, name)
                if path.is_symlink() or not path.is_file() or not is_document_file(path):
                    continue
                text = read_text(path)
                if text is None:
                    continue
                # Many packages ship the same copyright text; keep one copy of each.
                digest = hashlib.sha1(text.encode("utf-8")).digest()
                if digest in seen:
                    continue
                seen.add(digest)
                lines = text.splitlines()
                for start in range(0, len(lines), max_lines):
                    body = "\n".join(lines[start:start + max_lines]).strip("\n")
                    if len(body) >= min_chars:
                        yield str(path), start, body


def record(url, body, number):
    payload = (body + "\n").encode("utf-8")
    headers = [
        "WARC/1.0",
        "WARC-Type: conversion",
        f"WARC-Target-URI: {url}",
        "WARC-Date: 2019-03-18T00:00:00Z",
        f"WARC-Record-ID: <urn:uuid:{hashlib.md5(url.encode()).hexdigest()}>",
        f"WARC-Refers-To: <urn:uuid:{number:032x}>",
        "WARC-Block-Digest: sha1:" + hashlib.sha1(payload).hexdigest().upper()[:32],
        "Content-Type: text/plain",
        f"Content-Length: {len(payload)}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + payload + b"\r\n\r\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-docs", type=int, default=20000)
    parser.add_argument("--max-lines", type=int, default=200)
    parser.add_argument("--min-chars", type=int, default=300)
    args = parser.parse_args()

    count = 0
    with open(args.out + ".tmp", "wb") as out:
        for path, start, body in documents(args.roots, args.max_lines, args.min_chars):
            url = f"file://{path}#line{start + 1}"
            out.write(gzip.compress(record(url, body, count), compresslevel=6, mtime=0))
            count += 1
            if count == args.max_docs:
                break
    os.replace(args.out + ".tmp", args.out)
    print(f"make_doc_wet.py: {count} documents in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
