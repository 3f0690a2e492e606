#!/usr/bin/env python3
"""Compares two ARPA files entry by entry: the same n-grams, and log10 probabilities and back-off
weights that agree within a tolerance (default 1e-6). Prints the largest differences and exits
with status 1 when the files disagree.

    compare_arpa.py ours.arpa lmplz.arpa [--tolerance 1e-6]
"""
import argparse
import sys


def read_arpa(path):
    entries = {}
    order = 0
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1:line.index("-")])
                continue
            if not order or not line or line.startswith("\\"):
                continue
            fields = line.split("\t")
            backoff = float(fields[2]) if len(fields) > 2 else 0.0
            entries[fields[1]] = (float(fields[0]), backoff)
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args()
    first, second = read_arpa(args.first), read_arpa(args.second)
    only_first = first.keys() - second.keys()
    only_second = second.keys() - first.keys()
    worst_probability = max((abs(first[k][0] - second[k][0]), k) for k in first.keys() & second.keys())
    worst_backoff = max((abs(first[k][1] - second[k][1]), k) for k in first.keys() & second.keys())
    print(f"n-grams: {len(first)} and {len(second)}; only in the first: {len(only_first)}, "
          f"only in the second: {len(only_second)}")
    print(f"max |difference| of log10 probability: {worst_probability[0]:.3g} ({worst_probability[1]!r})")
    print(f"max |difference| of back-off weight: {worst_backoff[0]:.3g} ({worst_backoff[1]!r})")
    agree = not only_first and not only_second and worst_probability[0] <= args.tolerance \
        and worst_backoff[0] <= args.tolerance
    print("agree" if agree else "DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
