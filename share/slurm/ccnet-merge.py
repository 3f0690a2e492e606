#!/usr/bin/python3
"""Gathers the per-shard outputs of a `ccnet-filter mine` job array into one output per name.

    ccnet-merge.py --shards N OUT

Reads OUT/mined/NNNN/ (NNNN = shard index in 4 digits) for every shard 0..N-1 and writes:

- OUT/merged/<name> for every file name that any shard produced (<language>.json.gz, or
  <language>_<bucket>.json.gz when mine ran with a language model): the shard files concatenated in shard order.
  Concatenated gzip files are one valid gzip file, so the decompressed result is the output of a
  single `mine` run over the whole path list whenever the dedup group covers all shards
  (--group-size >= N), because documents keep their input order within a shard and shards are
  contiguous slices of the path list.
- OUT/merged/stats.json: the shard statistics combined. Counts, bytes and seconds are summed,
  so wall_seconds is the total over tasks, not the elapsed time. The keys in MAXIMUM_KEYS keep
  their maximum over shards. Lists such as the inputs are joined in shard order, each entry
  once (the shards of a dedup group list the same hash files), and strings
  that differ between shards, such as errors, are joined by "; ".

Every shard must have its done marker OUT/mined/NNNN.done, recording shard NNNN of N; otherwise
nothing is written and the script exits 1 naming the unfinished or foreign shards. Outputs are written under temporary names and
renamed when complete. stats.json is written last and marks a complete merge. A merge that fails
(a full disk, a signal) removes the files that it wrote, the stats.json of an earlier merge, and
merged/ if it created it. Only the Python standard library is used, so the script runs on any
cluster node.
"""
import argparse
import contextlib
import json
import shutil
import signal
import sys
from pathlib import Path

# The shared helpers sit beside this script, also where it is run through runpy.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from merge_temporaries import written_atomically  # noqa: E402

# Values that describe one shard's resources or its whole dedup group. A sum over shards would
# overstate them, so the merged statistics keep their maximum.
MAXIMUM_KEYS = {"peak_rss_bytes", "hashes_in_group", "hash_table_bytes"}
# Per-shard identity, replaced by the shard count in the merged statistics.
SHARD_KEYS = {"shard", "output"}


class Interrupted(Exception):
    """A signal that ends the merge; raised in the main thread, so that the temporary output is removed."""


def raise_interrupted(number, frame):
    raise Interrupted(number)


def fail(message):
    sys.exit(f"ccnet-merge.py: {message}")


def read_json(path):
    """Returns the JSON value in `path`; exits naming the file if it is not JSON."""
    with open(path, encoding="utf-8") as stream:
        try:
            return json.load(stream)
        except ValueError as error:
            fail(f"invalid JSON in {path}: {error}; run mine for that shard again")


def shard_name(index):
    return f"{index:04d}"


def unfinished_shards(mined, shards):
    return [i for i in range(shards) if not (mined / f"{shard_name(i)}.done").is_file()]


def foreign_shards(mined, shards):
    """Returns "NNNN.done records I/M" for each done marker that records another shard than
    NNNN of `shards`, such as a shard left by a run with another shard count."""
    foreign = []
    for index in range(shards):
        marker = read_json(mined / f"{shard_name(index)}.done")
        recorded = (marker.get("shard", index), marker.get("shards", shards))
        if recorded != (index, shards):
            foreign.append(f"{shard_name(index)}.done records shard {recorded[0]}/{recorded[1]}")
    return foreign


def combine(total, value, key):
    """Folds one shard's statistics value into the running total."""
    if total is None:
        return json.loads(json.dumps(value))  # deep copy
    if isinstance(value, dict):
        for name, item in value.items():
            total[name] = combine(total.get(name), item, name)
        return total
    if isinstance(value, list):
        # Shards of one dedup group list the same hash files; a path is listed once.
        listed = set(map(json.dumps, total))
        return total + [item for item in value if json.dumps(item) not in listed]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        parts = [text for text in str(total).split("; ") if text]
        if value and str(value) not in parts:
            parts.append(str(value))
        return "; ".join(parts)
    if key in MAXIMUM_KEYS:
        return max(total, value)
    return total + value


def merge_stats(mined, shards):
    total = None
    for index in range(shards):
        stats = read_json(mined / f"{shard_name(index)}.stats.json")
        for key in SHARD_KEYS:
            stats.pop(key, None)
        total = combine(total, stats, "")
    total["shards"] = shards
    return total


def write_atomically(path, write):
    """Writes `path` through `write(stream)` under a temporary name, then renames it."""
    with written_atomically(path, "ccnet-merge.py") as temporary, open(temporary, "wb") as stream:
        write(stream)


def concatenate(sources, stream):
    for source in sources:
        with open(source, "rb") as part:
            shutil.copyfileobj(part, stream, 1 << 20)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, required=True, help="number of shards of the mine array")
    parser.add_argument("out", type=Path, help="workflow directory with mined/ (merged/ is written there)")
    args = parser.parse_args()
    if args.shards < 1:
        parser.error(f"invalid --shards {args.shards}: must be at least 1")
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, raise_interrupted)
    try:
        merge(args)
    except (Interrupted, KeyboardInterrupt) as interrupt:
        number = interrupt.args[0] if isinstance(interrupt, Interrupted) else signal.SIGINT
        print(f"ccnet-merge.py: interrupted by {signal.Signals(number).name}; unfinished output files were removed",
              file=sys.stderr)
        sys.exit(128 + number)
    except OSError as error:
        fail(f"cannot access {error.filename}: {error.strerror}; check the workflow directory and its permissions")


def merge(args):
    mined = args.out / "mined"
    missing = unfinished_shards(mined, args.shards)
    if missing:
        listed = ", ".join(shard_name(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        sys.exit(f"ccnet-merge.py: {len(missing)} of {args.shards} shards in {mined} have no done marker "
                 f"({listed}); re-submit the workflow to finish them")
    foreign = foreign_shards(mined, args.shards)
    if foreign:
        listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        sys.exit(f"ccnet-merge.py: {len(foreign)} shards in {mined} are not shards of {args.shards} ({listed}); "
                 "merge with the --shards of that run, or mine into a new directory")

    names = sorted({path.name for i in range(args.shards)
                    for path in (mined / shard_name(i)).glob("*") if path.is_file()})
    stats = merge_stats(mined, args.shards)
    merged = args.out / "merged"
    created = not merged.exists()
    try:
        merged.mkdir(parents=True, exist_ok=True)
        # stats.json, written last, marks a complete merge, so an earlier merge's goes first. A
        # rerun that fails must not leave it beside a mix of old and new files.
        (merged / "stats.json").unlink(missing_ok=True)
    except OSError as error:
        fail(f"cannot create {merged}: {error.strerror}; check the permissions of {args.out}")
    written = []
    try:
        for name in names:
            sources = [mined / shard_name(i) / name for i in range(args.shards)
                       if (mined / shard_name(i) / name).is_file()]
            write_atomically(merged / name, lambda stream: concatenate(sources, stream))
            written.append(merged / name)
        text = json.dumps(stats, ensure_ascii=False, indent=1) + "\n"
        write_atomically(merged / "stats.json", lambda stream: stream.write(text.encode("utf-8")))
    except BaseException:
        # A failed merge (a full disk, a signal) leaves none of its files, and no merged/ that
        # it created, because a half-merged directory would pass for the output of fewer shards.
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                merged.rmdir()
        raise
    print(f"ccnet-merge.py: merged {args.shards} shards into {len(names)} files in {merged}", file=sys.stderr)


if __name__ == "__main__":
    main()
