#!/usr/bin/python3
"""Merges the outputs of `langevin --shard I/N` or `geodesic --all-pairs --shard I/N` array tasks
into the output that one run without --shard writes.

    merge-shards.py samples --chains C -o samples.tsv shard-0.tsv shard-1.tsv ...
    merge-shards.py distances -o distances.tsv pairs-0.tsv pairs-1.tsv ...

Shard files are given in shard order 0..N-1. They are text (tab-separated, as the tools write
it) or HDF5 (`file.h5[:/dataset]`, which needs h5py). HDF5 shards record their shard number, and
the merge checks it against the order given; text shards carry no such record, so their order is
not checked. The output name sets the output format:
`.h5` writes HDF5, and `-` or any other name writes text.

samples: shard I of langevin ran chains [I*C/N, (I+1)*C/N) of C and wrote its rows kept-step
major (row = k * chains_of_shard + chain), like a single run. With --thin 0 or annealed sampling
every chain has one row, so the merge is a concatenation in shard order. With K kept states per
chain, row k*C + c of the merged output is row k*C_I + (c - first chain of I) of the shard I
that ran chain c. That is, for each kept step k the shards' blocks are concatenated in order.
Each chain draws from its own random stream (seed, chain index), so the merged samples equal a
single run with the same seed bit for bit.

distances: shard I of geodesic --all-pairs solved the pairs [I*P/N, (I+1)*P/N) of the P = n(n-1)/2
pairs (i, j), i < j, and wrote rows (i, j, length, converged). The merge fills the symmetric
n x n distance matrix with a zero diagonal (text), plus the converged matrix (HDF5), as a single
run writes them. It fails when a pair is missing or appears twice, which happens when a shard
file is missing or given twice.

Text values are copied as written, so merged text files equal the single run's byte for byte.
HDF5 outputs get the datasets and the sample attributes of one run. The provenance attributes at
the file's root are not copied, because they describe the shard runs, not the merge.
"""
import argparse
import sys
from pathlib import Path


def fail(message):
    sys.exit(f"merge-shards.py: {message}")


def split_location(spec, default_dataset):
    """Splits `file.h5:/dataset` into the file and dataset; text files have no dataset."""
    path, _, dataset = spec.partition(":")
    hdf5 = path.endswith((".h5", ".hdf5"))
    return path, (dataset or default_dataset) if hdf5 else None


def h5py_module():
    try:
        import h5py
    except ImportError:
        fail("HDF5 shards need the Python package h5py (Debian: python3-h5py); or write text shards")
    return h5py


def read_rows(spec, default_dataset):
    """Returns (header or None, rows as lists of string tokens or numbers, HDF5 attributes)."""
    path, dataset = split_location(spec, default_dataset)
    if not Path(path).is_file():
        fail(f"cannot read shard {path}: no such file; give every shard output in shard order")
    if dataset is None:
        header, rows = None, []
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                tokens = line.split("\t")
                if header is None and rows == [] and not _is_number(tokens[0]):
                    header = tokens
                    continue
                rows.append(tokens)
        return header, rows, {}
    h5py = h5py_module()
    with h5py.File(path, "r") as file:
        if dataset not in file:
            fail(f"dataset {dataset} not found in {path}; give file.h5:/dataset")
        data = file[dataset]
        return None, data[()].tolist(), dict(data.attrs)


def _is_number(token):
    try:
        float(token)
        return True
    except ValueError:
        return False


def write_rows(spec, default_dataset, header, rows, attributes=None, extra=None):
    path, dataset = split_location(spec, default_dataset)
    if dataset is None:
        lines = (["\t".join(header)] if header else []) + ["\t".join(str(value) for value in row) for row in rows]
        text = "".join(line + "\n" for line in lines)
        if path == "-":
            sys.stdout.write(text)
        else:
            Path(path).write_text(text, encoding="utf-8")
        return
    h5py = h5py_module()
    import numpy
    with h5py.File(path, "w") as file:
        data = file.create_dataset(dataset, data=numpy.array(rows, dtype=numpy.float64))
        for name, value in (attributes or {}).items():
            data.attrs[name] = value
        for name, matrix in (extra or {}).items():
            file.create_dataset(name, data=numpy.array(matrix, dtype=numpy.float64))


def check_shard_attribute(spec, attrs, index, shards):
    """Fails when an HDF5 shard records another shard number than its place in the list."""
    recorded = attrs.get("shard")
    if isinstance(recorded, bytes):
        recorded = recorded.decode()
    if recorded is None or str(recorded) == f"{index}/{shards}":
        return
    recorded = str(recorded)
    if recorded.partition("/")[2] != str(shards):
        fail(f"{spec} is shard {recorded}, but {shards} files were given; a shard file is missing or extra")
    fail(f"{spec} is shard {recorded}, but it is number {index} of the files given; "
         "give the shards in order 0..N-1, each once")


def merge_samples(args):
    shards = len(args.shards)
    blocks = []
    kept = None
    attributes = {}
    for index, spec in enumerate(args.shards):
        chains = (index + 1) * args.chains // shards - index * args.chains // shards
        _, rows, attrs = read_rows(spec, "/samples")
        check_shard_attribute(spec, attrs, index, shards)
        if "total_chains" in attrs and int(attrs["total_chains"]) != args.chains:
            fail(f"{spec} was run with --chains {int(attrs['total_chains'])}, not {args.chains}")
        if chains == 0 or len(rows) % chains:
            fail(f"{spec} has {len(rows)} rows, not a multiple of its {chains} chains (shard {index} of "
                 f"{shards} with --chains {args.chains}); check the shard order and --chains")
        if kept is None:
            kept, attributes = len(rows) // chains, attrs
        elif len(rows) // chains != kept:
            fail(f"{spec} has {len(rows) // chains} kept states per chain, shard 0 has {kept}")
        blocks.append((chains, rows))

    merged = []
    for step in range(kept):
        for chains, rows in blocks:
            merged.extend(rows[step * chains:(step + 1) * chains])
    for name in ("shard", "first_chain", "total_chains"):
        attributes.pop(name, None)
    if "chains" in attributes:
        attributes["chains"] = args.chains
    write_rows(args.output, "/samples", None, merged, attributes, noise_levels(args.shards[0], args.output))


def noise_levels(first_shard, output):
    """Returns {name: levels} for the annealed noise levels dataset next to an HDF5 shard's samples."""
    path, dataset = split_location(first_shard, "/samples")
    _, output_dataset = split_location(output, "/samples")
    if dataset is None or output_dataset is None:
        return None
    with h5py_module().File(path, "r") as file:
        name = dataset + "_noise_levels"
        return {output_dataset + "_noise_levels": file[name][()].tolist()} if name in file else None


def merge_distances(args):
    table = []
    points = None
    for index, spec in enumerate(args.shards):
        header, rows, attrs = read_rows(spec, "/pairs")
        if header is not None and header != ["i", "j", "length", "converged"]:
            fail(f"{spec} is not a geodesic --all-pairs shard table (header {' '.join(header)})")
        check_shard_attribute(spec, attrs, index, len(args.shards))
        if "points" in attrs:
            points = int(attrs["points"])
        table.extend(rows)
    if not table:
        fail("the shards contain no pairs")

    # HDF5 shards record the number of points. Text shards do not, and the largest index seen
    # undercounts it when the last shards are missing, so the pair count check below is the guard.
    n = points or max(int(float(row[1])) for row in table) + 1
    distances = [[0] * n for _ in range(n)]
    converged = [[1] * n for _ in range(n)]
    seen = set()
    for i, j, length, flag in table:
        i, j = int(float(i)), int(float(j))
        if (i, j) in seen:
            fail(f"pair ({i}, {j}) appears in two shards; give each shard file once")
        seen.add((i, j))
        distances[i][j] = distances[j][i] = length
        converged[i][j] = converged[j][i] = int(float(flag))
    if len(seen) != n * (n - 1) // 2:
        counted = "" if points else " (counted from the largest index seen, so possibly more)"
        fail(f"the shards contain {len(seen)} of the {n * (n - 1) // 2} pairs of {n} points{counted}; "
             "a shard file is missing")
    write_rows(args.output, "/distances", None, distances, extra={"/converged": converged}
               if split_location(args.output, "/distances")[1] else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    samples = commands.add_parser("samples", help="merge langevin --shard outputs")
    samples.add_argument("--chains", type=int, required=True, help="chains of the whole run (--chains C)")
    distances = commands.add_parser("distances", help="merge geodesic --all-pairs --shard tables")
    for command in (samples, distances):
        command.add_argument("-o", "--output", default="-", help="merged output; .h5 writes HDF5, - standard output")
        command.add_argument("shards", nargs="+", help="shard outputs in shard order 0..N-1")
    args = parser.parse_args()
    if args.command == "samples":
        if args.chains < len(args.shards):
            fail(f"--chains {args.chains} is smaller than the {len(args.shards)} shards")
        merge_samples(args)
    else:
        merge_distances(args)


if __name__ == "__main__":
    main()
