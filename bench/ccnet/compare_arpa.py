#!/usr/bin/env python3
"""Compares two ARPA files entry by entry: the same n-grams, and log10 probabilities and back-off
weights that agree within a tolerance (default 1e-6). Prints the largest differences and exits
with status 1 when the files disagree. Both files are sorted by n-gram with the external `sort`
first, so memory stays small for models of any size.

    compare_arpa.py ours.arpa lmplz.arpa [--tolerance 1e-6]
"""
import argparse
import os
import subprocess
import sys
import tempfile


def sorted_entries(path, directory):
    """Writes "n-gram TAB log10 probability TAB back-off" lines of `path`, sorted, and returns the file."""
    flat = os.path.join(directory, os.path.basename(path) + ".flat")
    with open(path, encoding="utf-8") as stream, open(flat, "w", encoding="utf-8") as out:
        order = 0
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1:line.index("-")])
                continue
            if not order or not line or line.startswith("\\"):
                continue
            fields = line.split("\t")
            backoff = fields[2] if len(fields) > 2 else "0"
            out.write(f"{fields[1]}\t{fields[0]}\t{backoff}\n")
    subprocess.run(["sort", "-S", "256M", "-T", directory, "-o", flat, flat], check=True,
                   env=dict(os.environ, LC_ALL="C"))
    return flat


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        first = open(sorted_entries(args.first, directory), encoding="utf-8")
        second = open(sorted_entries(args.second, directory), encoding="utf-8")
        count = [0, 0]
        missing = [0, 0]
        worst_probability = (0.0, "")
        worst_backoff = (0.0, "")
        a, b = first.readline(), second.readline()
        while a or b:
            key_a = a.split("\t")[0] if a else None
            key_b = b.split("\t")[0] if b else None
            if key_b is None or (key_a is not None and key_a < key_b):
                missing[1] += 1
                count[0] += 1
                a = first.readline()
                continue
            if key_a is None or key_b < key_a:
                missing[0] += 1
                count[1] += 1
                b = second.readline()
                continue
            _, prob_a, backoff_a = a.rstrip("\n").split("\t")
            _, prob_b, backoff_b = b.rstrip("\n").split("\t")
            worst_probability = max(worst_probability, (abs(float(prob_a) - float(prob_b)), key_a))
            worst_backoff = max(worst_backoff, (abs(float(backoff_a) - float(backoff_b)), key_a))
            count[0] += 1
            count[1] += 1
            a, b = first.readline(), second.readline()
    print(f"n-grams: {count[0]} and {count[1]}; only in the first: {missing[1]}, only in the second: {missing[0]}")
    print(f"max |difference| of log10 probability: {worst_probability[0]:.3g} ({worst_probability[1]!r})")
    print(f"max |difference| of back-off weight: {worst_backoff[0]:.3g} ({worst_backoff[1]!r})")
    agree = missing == [0, 0] and worst_probability[0] <= args.tolerance and worst_backoff[0] <= args.tolerance
    print("agree" if agree else "DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
