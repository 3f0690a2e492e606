#!/usr/bin/python3
"""Merges the outputs of `langevin --shard I/N`, `geodesic --shard I/N` or `fim --shard I/N`
array tasks into the output that one run without --shard writes.

    merge-shards.py samples --chains C -o samples.tsv shard-0.tsv shard-1.tsv ...
    merge-shards.py distances -o distances.tsv pairs-0.tsv pairs-1.tsv ...
    merge-shards.py rows -o lengths.tsv lengths-0.tsv lengths-1.tsv ...
    merge-shards.py fisher -o fisher.h5 fisher-0.h5 fisher-1.h5 ...

Shard files are given in shard order 0..N-1. They are text (tab-separated, as the tools write
it) or HDF5 (`file.h5[:/dataset]`, which needs h5py). Every shard records its shard number I/N:
HDF5 shards in the `shard` attribute, text shards in a first comment line
`# shard I/N: ...`. The merge checks it against the order and the number of files given. Text
shards without that line (written by hand or by older versions) are merged unchecked, with a
warning. Two arguments that name the same file (and dataset) by any path are an error. The
output name sets the output format:
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
HDF5 outputs get the datasets and the sample attributes of one run. Each dataset keeps the type
of the shards' dataset it comes from (float32 samples stay float32), and `/converged` is int64
as in one run. The provenance attributes at the file's root are not copied, because they
describe the shard runs, not the merge.

rows: shard I of geodesic --pairs (boundary value, --exp or --log) solved the rows
[I*P/N, (I+1)*P/N) of the P rows of the pairs file and wrote them as one run would, numbered
by their row in the whole file. The shards' --paths files merge the same way. Text shards start
with the line `# shard I/N: rows [B, E) of P`; the merge drops it and concatenates the rows
under the first shard's header, so the result equals one run's file byte for byte. HDF5 shards
record `shard`, `first_row` and `total_rows` at the root. Every dataset is concatenated along its
first axis, with the dataset's type and attributes. The root attributes that describe the run's
settings are copied, but not the shard's place and not the provenance. The merge fails when
the shards' rows do not follow each other from 0 to P.

fisher: shard I of fim computed a dense, diag, block or kfac matrix over the inputs
[I*N/N_s, (I+1)*N/N_s) of N. These are sums over inputs, so the merge adds them up; for
--reduction mean it weighs each shard's mean by its inputs, and KFAC's G, a mean over inputs in
both reductions, the same way. The shards must agree in model, estimator, likelihood,
representation, reduction and parameters, and their inputs must add up to N. mc draws come from
one stream per input index in the whole data, so the merge equals one run up to rounding. The
merged file has fim's layout without /summary: `fim --stored fisher.h5 -k K --log-det` prints
the summaries of the whole matrix (trace, eigenvalues, log det).

A file name is split at a colon into file and dataset as the tools split it: `file:/dataset`, or
`file.h5:name` for names ending in .h5, .hdf5 or .hdf. A name that exists as a file is never split.
"""
import argparse
import os
import re
import signal
import stat
import sys
from pathlib import Path

# The shared helpers sit beside this script, also where it is run through runpy.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import merge_temporaries  # noqa: E402

# The first line of a text shard: "# shard 1/4: chains [2, 5) of 10" from langevin, or
# "# shard 2/4: pairs [14, 21) of 28 pairs of 8 points" from geodesic --all-pairs.
SHARD_COMMENT = re.compile(r"# shard (\d+)/(\d+)(?:: chains \[\d+, \d+\) of (\d+)"
                           r"|: pairs \[\d+, \d+\) of \d+ pairs of (\d+) points)?")


def fail(message):
    sys.exit(f"merge-shards.py: {message}")


def check_shard_path(path):
    """Exits unless `path` names something to read: a file, or a pipe (process substitution)."""
    if not os.path.exists(path):
        fail(f"cannot read shard {path}: no such file; give every shard output in shard order")
    if os.path.isdir(path):
        fail(f"cannot read shard {path}: it is a directory; give every shard output in shard order")


def check_shards_listed_once(specs):
    """Exits when two shard arguments name the same file (and dataset) by any path, because its
    rows would be merged twice. Text shards without a '# shard I/N' line have no other check."""
    seen = {}
    for number, spec in enumerate(specs, 1):
        path, dataset = split_location(spec, "")
        try:
            status = os.stat(path)
        except OSError:
            continue  # reported when the shard is read
        if not stat.S_ISREG(status.st_mode):
            continue  # a pipe (process substitution) is read once whatever its name
        key = (status.st_dev, status.st_ino, dataset)
        if key in seen:
            first_number, first_spec = seen[key]
            fail(f"shards {first_number} and {number} ({first_spec} and {spec}) name the same file; "
                 "give each shard once, in shard order")
        seen[key] = (number, spec)


class Interrupted(Exception):
    """A signal that ends the merge; raised in the main thread, so that the temporary output is removed."""


def raise_interrupted(number, frame):
    raise Interrupted(number)


HDF5_EXTENSIONS = (".h5", ".hdf5", ".hdf")


def split_location(spec, default_dataset):
    """Splits `file.h5:/dataset` into the file and dataset; text files have no dataset."""
    path, dataset = spec, ""
    if ":" in spec and not (os.path.exists(spec) and not os.path.isdir(spec)):
        head, separator, tail = spec.partition(":/")
        if separator:
            path, dataset = head, "/" + tail
        else:
            head, _, tail = spec.rpartition(":")
            if tail and head.endswith(HDF5_EXTENSIONS):
                path, dataset = head, "/" + tail
    hdf5 = bool(dataset) or path.endswith(HDF5_EXTENSIONS)
    return path, (dataset or default_dataset) if hdf5 else None


def h5py_module():
    try:
        import h5py
    except ImportError:
        fail("HDF5 shards need the Python package h5py (Debian: python3-h5py); or write text shards")
    return h5py


def read_rows(spec, default_dataset):
    """Returns (header or None, rows as lists of string tokens or numbers, attributes, numpy dtype
    or None). The attributes are an HDF5 dataset's, or for text those of its shard comment line."""
    path, dataset = split_location(spec, default_dataset)
    check_shard_path(path)
    if dataset is None:
        header, rows, attributes = None, [], {}
        try:
            with open(path, encoding="utf-8") as stream:
                for number, line in enumerate(stream, 1):
                    line = line.rstrip("\r\n")
                    match = SHARD_COMMENT.fullmatch(line) if not rows and header is None else None
                    if match:
                        attributes["shard"] = f"{match[1]}/{match[2]}"
                        if match[3]:
                            attributes["total_chains"] = int(match[3])
                        if match[4]:
                            attributes["points"] = int(match[4])
                        continue
                    if not line or line.startswith("#"):
                        continue
                    tokens = line.split("\t")
                    if header is None and rows == [] and not _is_number(tokens[0]):
                        header = tokens
                        continue
                    check_row(path, number, tokens, rows[0] if rows else None)
                    rows.append(tokens)
        except UnicodeDecodeError:
            fail(f"cannot read shard {path}: not UTF-8 text; give the tab-separated file the tool wrote")
        return header, rows, attributes, None
    h5py = h5py_module()
    try:
        file = h5py.File(path, "r")
    except OSError:
        fail(f"cannot read shard {path}: not an HDF5 file; give the .h5 file the tool wrote")
    with file:
        if dataset not in file:
            fail(f"dataset {dataset} not found in {path}; give file.h5:/dataset")
        data = file[dataset]
        return None, data[()].tolist(), dict(data.attrs), data.dtype


def check_row(path, number, tokens, first_row):
    """Exits on a value that is not a number, or on a row wider or narrower than the first row."""
    for token in tokens:
        if not _is_number(token):
            fail(f"invalid value {token!r} in shard {path} line {number}: expected a number; "
                 "give the shard output the tool wrote")
    if first_row is not None and len(tokens) != len(first_row):
        fail(f"invalid row in shard {path} line {number}: {len(tokens)} columns where the first row has "
             f"{len(first_row)}; give the shard output the tool wrote")

def _is_number(token):
    try:
        float(token)
        return True
    except ValueError:
        return False


def written_atomically(path):
    """Yields a temporary name beside `path`, renamed to `path` when the block ends without error."""
    return merge_temporaries.written_atomically(path, "merge-shards.py")


def write_rows(spec, default_dataset, header, rows, attributes=None, extra=None, dtype=None):
    """Writes text, or an HDF5 dataset of `dtype` (float64 when None) plus the `extra` datasets,
    given as {name: (rows, dtype)}."""
    path, dataset = split_location(spec, default_dataset)
    if dataset is None:
        lines = (["\t".join(header)] if header else []) + ["\t".join(str(value) for value in row) for row in rows]
        text = "".join(line + "\n" for line in lines)
        if path == "-":
            sys.stdout.write(text)
            return
        with written_atomically(path) as temporary:
            Path(temporary).write_text(text, encoding="utf-8")
        return
    h5py = h5py_module()
    import numpy
    with written_atomically(path) as temporary, h5py.File(temporary, "w") as file:
        data = file.create_dataset(dataset, data=numpy.array(rows, dtype=dtype or numpy.float64))
        for name, value in (attributes or {}).items():
            data.attrs[name] = value
        for name, (matrix, matrix_dtype) in (extra or {}).items():
            file.create_dataset(name, data=numpy.array(matrix, dtype=matrix_dtype))


warned_unrecorded = False


def check_shard_attribute(spec, attrs, index, shards):
    """Fails when a shard records another shard number than its place in the list."""
    recorded = attrs.get("shard")
    if isinstance(recorded, bytes):
        recorded = recorded.decode()
    if recorded is None:
        global warned_unrecorded
        if split_location(spec, "/")[1] is None and not warned_unrecorded:
            warned_unrecorded = True
            print(f"merge-shards.py: warning: text shard {spec} has no '# shard I/N' line, so the order of "
                  "such shards is not checked; write the shards with this version's tools", file=sys.stderr)
        return
    if str(recorded) == f"{index}/{shards}":
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
    dtypes = []
    for index, spec in enumerate(args.shards):
        chains = (index + 1) * args.chains // shards - index * args.chains // shards
        _, rows, attrs, dtype = read_rows(spec, "/samples")
        if dtype is not None:
            dtypes.append(dtype)
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
    write_rows(args.output, "/samples", None, merged, attributes, noise_levels(args.shards[0], args.output),
               common_dtype(dtypes))


def common_dtype(dtypes):
    """Returns the numpy type that represents every shard's values exactly (the shards' type when
    they agree, else numpy's promotion of their types), or None (float64) for text shards."""
    if not dtypes:
        return None
    import numpy
    return numpy.result_type(*dtypes)


def noise_levels(first_shard, output):
    """Returns {name: levels} for the annealed noise levels dataset next to an HDF5 shard's samples."""
    path, dataset = split_location(first_shard, "/samples")
    _, output_dataset = split_location(output, "/samples")
    if dataset is None or output_dataset is None:
        return None
    with h5py_module().File(path, "r") as file:
        name = dataset + "_noise_levels"
        if name not in file:
            return None
        return {output_dataset + "_noise_levels": (file[name][()].tolist(), file[name].dtype)}


def merge_distances(args):
    table = []
    points = None
    dtypes = []
    for index, spec in enumerate(args.shards):
        header, rows, attrs, dtype = read_rows(spec, "/pairs")
        if dtype is not None:
            dtypes.append(dtype)
        if header is not None and header != ["i", "j", "length", "converged"]:
            fail(f"{spec} is not a geodesic --all-pairs shard table (header {' '.join(header)})")
        check_shard_attribute(spec, attrs, index, len(args.shards))
        if "points" in attrs:
            points = int(attrs["points"])
        table.extend(rows)
    if not table:
        fail("the shards contain no pairs")

    # Shards record the number of points. Without it (text shards of older versions) the largest
    # index seen undercounts it when the last shards are missing, so the pair count check below is the guard.
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
    # A single geodesic --all-pairs run writes /converged as int64.
    extra = {"/converged": (converged, "int64")} if split_location(args.output, "/distances")[1] else None
    write_rows(args.output, "/distances", None, distances, extra=extra, dtype=common_dtype(dtypes))


# The first line of a text shard of geodesic --pairs: "# shard 1/4: rows [3, 6) of 12".
ROWS_COMMENT = re.compile(r"# shard (\d+)/(\d+): rows \[(\d+), (\d+)\) of (\d+)")
# Root attributes that describe one process rather than the run's settings.
PROVENANCE = ("scorekit_tool", "scorekit_version", "command_line", "seed")
SHARD_PLACE = ("shard", "first_row", "total_rows")


def check_rows_place(spec, index, shards, first_row, total_rows, expected_first, expected_total):
    """Fails unless shard `index` of `shards` starts where the previous one ended, in a run of the
    same total rows."""
    if expected_total is not None and total_rows != expected_total:
        fail(f"{spec} has rows of a pairs file of {total_rows} rows, shard 0 of {expected_total}; "
             "merge the shards of one geodesic command")
    if first_row != expected_first:
        fail(f"{spec} starts at row {first_row}, but the shards before it end at row {expected_first}; "
             "give the shards in order 0..N-1, each once")


def merge_text_rows(args):
    header, lines, end, total = None, [], 0, None
    for index, spec in enumerate(args.shards):
        path = spec
        check_shard_path(path)
        try:
            text = Path(path).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            fail(f"cannot read shard {path}: not UTF-8 text; give the tab-separated file geodesic wrote")
        match = ROWS_COMMENT.fullmatch(text[0]) if text else None
        if not match:
            fail(f"{spec} has no '# shard I/N: rows [B, E) of P' first line; give the text outputs of "
                 "geodesic --pairs --shard I/N")
        check_shard_attribute(spec, {"shard": f"{match[1]}/{match[2]}"}, index, len(args.shards))
        first_row, last_row, rows_total = int(match[3]), int(match[4]), int(match[5])
        check_rows_place(spec, index, len(args.shards), first_row, rows_total, end, total)
        total, end = rows_total, last_row
        body = text[1:]
        if not body:
            fail(f"{spec} has no header line; give the text output geodesic wrote")
        if header is None:
            header = body[0]
        elif body[0] != header:
            fail(f"{spec} has the header '{body[0]}', shard 0 has '{header}'; merge outputs of one geodesic command")
        lines.extend(body[1:])
    if end != total:
        fail(f"the shards end at row {end} of {total}; a shard file is missing")
    text = "".join(line + "\n" for line in [header] + lines)
    if args.output == "-":
        sys.stdout.write(text)
        return
    with written_atomically(args.output) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")


def merge_hdf5_rows(args):
    h5py = h5py_module()
    import numpy
    files = []
    end, total = 0, None
    for index, spec in enumerate(args.shards):
        check_shard_path(spec)
        try:
            file = h5py.File(spec, "r")
        except OSError:
            fail(f"cannot read shard {spec}: not an HDF5 file; give the .h5 file geodesic wrote")
        if "first_row" not in file.attrs or "total_rows" not in file.attrs:
            fail(f"{spec} records no first_row and total_rows; give the HDF5 outputs of geodesic --pairs --shard I/N")
        check_shard_attribute(spec, file.attrs, index, len(args.shards))
        first_row, rows_total = int(file.attrs["first_row"]), int(file.attrs["total_rows"])
        check_rows_place(spec, index, len(args.shards), first_row, rows_total, end, total)
        datasets = []
        file.visititems(lambda name, item: datasets.append(name) if isinstance(item, h5py.Dataset) else None)
        rows = {len(file[name]) for name in datasets}
        if len(rows) > 1:
            fail(f"the datasets of {spec} have different row counts {sorted(rows)}; give the file geodesic wrote")
        total, end = rows_total, first_row + (rows.pop() if rows else 0)
        files.append((spec, file, datasets))
    if end != total:
        fail(f"the shards end at row {end} of {total}; a shard file is missing")

    first_spec, first_file, names = files[0]
    for spec, file, datasets in files[1:]:
        if sorted(datasets) != sorted(names):
            fail(f"{spec} has the datasets {', '.join(sorted(datasets))}, {first_spec} has {', '.join(sorted(names))}; "
                 "merge outputs of one geodesic command")
    with written_atomically(args.output) as temporary, h5py.File(temporary, "w") as merged:
        for key, value in first_file.attrs.items():
            if key not in PROVENANCE + SHARD_PLACE:
                merged.attrs[key] = value
        for name in names:
            source = first_file[name]
            data = numpy.concatenate([file[name][()] for _, file, _ in files], axis=0).astype(source.dtype)
            target = merged.create_dataset(name, data=data)
            for key, value in source.attrs.items():
                target.attrs[key] = value
    for _, file, _ in files:
        file.close()


def merge_rows(args):
    outputs = {split_location(spec, "/")[1] is not None for spec in args.shards}
    if len(outputs) > 1:
        fail("the shards mix text and HDF5 files; give the outputs of one geodesic command")
    output_hdf5 = args.output != "-" and split_location(args.output, "/")[1] is not None
    if outputs.pop() != output_hdf5:
        fail(f"invalid -o {args.output}: the shards are {'HDF5' if not output_hdf5 else 'text'}, so the merged "
             f"output must be too; give a name {'ending in .h5' if not output_hdf5 else 'not ending in .h5'}")
    if output_hdf5:
        merge_hdf5_rows(args)
    else:
        merge_text_rows(args)


FISHER_AGREE = ("quantity", "estimator", "likelihood", "reduction", "representation", "model", "num_parameters")


def attribute_text(value):
    if isinstance(value, bytes):
        return value.decode()
    if hasattr(value, "tolist"):
        return str(value.tolist())
    return str(value)


def merge_fisher(args):
    h5py = h5py_module()
    import numpy
    shards = len(args.shards)
    files = []
    for index, spec in enumerate(args.shards):
        if not Path(spec).is_file():
            fail(f"cannot read {spec}: no such file; give the HDF5 outputs of fim --shard")
        try:
            file = h5py.File(spec, "r")
        except OSError as error:
            fail(f"cannot read {spec}: {error}; give the HDF5 outputs of fim --shard")
        if "fisher" not in file or "num_inputs" not in file["fisher"].attrs:
            fail(f"{spec} has no /fisher group from fim; give the HDF5 outputs of fim --shard")
        check_shard_attribute(spec, file["fisher"].attrs, index, shards)
        files.append(file)
    first = files[0]["fisher"].attrs
    for spec, file in zip(args.shards[1:], files[1:]):
        attrs = file["fisher"].attrs
        for name in FISHER_AGREE + ("parameter_names", "block_grouping", "sigma", "total_inputs"):
            if attribute_text(attrs.get(name)) != attribute_text(first.get(name)):
                fail(f"{spec} has {name} {attribute_text(attrs.get(name))}, shard 0 has "
                     f"{attribute_text(first.get(name))}; merge shards of one fim command")
    counts = [int(file["fisher"].attrs["num_inputs"]) for file in files]
    total = sum(counts)
    if "total_inputs" in first and int(first["total_inputs"]) != total:
        fail(f"the shards hold {total} inputs, but the data had {int(first['total_inputs'])}; a shard file is missing")
    representation = attribute_text(first["representation"])
    if representation not in ("dense", "diag", "block", "kfac"):
        fail(f"{args.shards[0]} holds no stored matrix (representation {representation}); run fim with "
             "--representation dense, diag, block or kfac")
    mean = attribute_text(first["reduction"]) == "mean"

    def combine(name, weighted):
        """Adds a dataset up over the shards, or takes its mean weighted by the shards' inputs."""
        if weighted:
            return sum(count * file[name][()] for count, file in zip(counts, files)) / total
        return sum(file[name][()] for file in files)

    items = []
    files[0].visititems(lambda name, item: items.append((name, item)))
    output = args.output
    if output == "-" or split_location(output, "/")[1] is None:
        fail(f"invalid -o {output}: a merged Fisher matrix is HDF5; give a name ending in .h5")
    with written_atomically(output) as temporary:
        with h5py.File(temporary, "w") as merged:
            for name, item in items:
                if name == "summary" or name.startswith("summary/"):
                    continue
                if isinstance(item, h5py.Group):
                    target = merged.require_group(name)
                else:
                    # Matrices under /fisher add up; A for mean and G in both reductions are means
                    # over each shard's inputs. The parameter table is the same in every shard.
                    data = item[()]
                    if name.startswith("fisher/"):
                        data = combine(name, mean or name.endswith("/G")).astype(item.dtype)
                    target = merged.create_dataset(name, data=data)
                for key, value in item.attrs.items():
                    if key not in ("shard", "total_inputs"):
                        target.attrs[key] = value
            merged["fisher"].attrs["num_inputs"] = total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    samples = commands.add_parser("samples", help="merge langevin --shard outputs")
    samples.add_argument("--chains", type=int, required=True, help="chains of the whole run (--chains C)")
    distances = commands.add_parser("distances", help="merge geodesic --all-pairs --shard tables")
    fisher = commands.add_parser("fisher", help="merge fim --shard matrices (HDF5)")
    rows = commands.add_parser("rows", help="merge geodesic --pairs --shard outputs and --paths files")
    for command in (samples, distances, fisher, rows):
        command.add_argument("-o", "--output", default="-", help="merged output; .h5 writes HDF5, - standard output")
        command.add_argument("shards", nargs="+", help="shard outputs in shard order 0..N-1")
    args = parser.parse_args()
    # A closed pipe (`merge-shards.py ... | head`) ends the merge quietly, as it ends `cat`.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, raise_interrupted)
    try:
        merge(args)
        sys.stdout.flush()
    except (Interrupted, KeyboardInterrupt) as interrupt:
        number = interrupt.args[0] if isinstance(interrupt, Interrupted) else signal.SIGINT
        print(f"merge-shards.py: interrupted by {signal.Signals(number).name}; unfinished output files were removed",
              file=sys.stderr)
        sys.exit(128 + number)
    except OSError as error:
        if error.filename is None:
            # The unwritten rest of the buffer would fail again, with a traceback, at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            fail(f"cannot write standard output: {error.strerror}; check free disk space")
        fail(f"cannot read {error.filename}: {error.strerror}; check the file and its permissions")


def merge(args):
    check_shards_listed_once(args.shards)
    if args.command == "samples":
        if args.chains < len(args.shards):
            fail(f"--chains {args.chains} is smaller than the {len(args.shards)} shards")
        merge_samples(args)
    elif args.command == "fisher":
        merge_fisher(args)
    elif args.command == "rows":
        merge_rows(args)
    else:
        merge_distances(args)


if __name__ == "__main__":
    main()
