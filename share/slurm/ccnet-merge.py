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
nothing is written and the script exits 1 naming the unfinished or foreign shards. A shard's files
are those that its done marker lists under "files" (every file in OUT/mined/NNNN/ for a marker
without that list), each with the length that the marker records. A file that is missing or of
another length ends the script with exit status 1 before anything is written.

The merge is written into a new hidden directory OUT/.merged.tmp.HOST.PID.XXXXXX, with stats.json
last, and that directory then takes the place of OUT/merged in one rename (renameat2 with
RENAME_EXCHANGE where the file system has it, else two renames, between which a crash leaves no
OUT/merged). A successful rerun therefore replaces an earlier merge completely, files that no
shard wrote this time included. A merge that fails (a full disk, a signal) removes its hidden
directory and leaves OUT/merged as it was. OUT/merged belongs to this script, so the next merge
removes other files put there. Only the Python standard library is used, so the script runs
on any cluster node.
"""
import argparse
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import signal
import sys
from pathlib import Path

# The shared helpers sit beside this script, also where it is run through runpy.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from merge_temporaries import (  # noqa: E402
    SUFFIX_CHARACTERS, SUFFIX_LENGTH, pid_identifies_writer, process_is_gone, temporary_prefix, writer_on_this_host,
    written_atomically)

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


def listed_files(mined, index):
    """Returns the output files of shard `index`: those that its done marker lists, checked against
    their recorded lengths, or every file in its directory for a marker without a list (written by
    an older mine). Exits naming the file when the directory does not match the marker."""
    directory = mined / shard_name(index)
    marker = read_json(mined / f"{shard_name(index)}.done")
    files = marker.get("files")
    if not isinstance(files, dict):
        return sorted(path.name for path in directory.glob("*") if path.is_file())
    for name, size in files.items():
        path = directory / name
        if "/" in name or not path.is_file():
            fail(f"{path} is missing, but {shard_name(index)}.done lists it; "
                 f"run mine for shard {index} again with --force")
        if path.stat().st_size != size:
            fail(f"{path} has {path.stat().st_size} bytes, but {shard_name(index)}.done records {size}; "
                 f"run mine for shard {index} again with --force")
    return sorted(files)


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


def write_atomically(path, write, display_path):
    """Writes `path` through `write(stream)` under a temporary name, then renames it. Errors name
    `display_path`, the file's path once the merge is in place."""
    with written_atomically(path, "ccnet-merge.py", display_path) as temporary, open(temporary, "wb") as stream:
        write(stream)


def remove_stale_directories(out):
    """Removes the hidden directories that a merge on this host left when it was killed (SIGKILL, a
    node crash) and whose process no longer runs."""
    if not pid_identifies_writer():
        return
    for prefix in (".merged.tmp.", ".merged.old.tmp."):
        for entry in os.listdir(out):
            path = out / entry
            if not entry.startswith(prefix) or not path.is_dir() or path.is_symlink():
                continue
            pid = writer_on_this_host(entry[len(prefix):])
            if pid and process_is_gone(pid):
                shutil.rmtree(path, ignore_errors=True)
                print(f"ccnet-merge.py: removed stale directory {path}: process {pid} on this host wrote it "
                      "and no longer runs", file=sys.stderr)


def make_hidden_directory(out, name):
    """Creates OUT/.NAME.tmp.HOST.PID.XXXXXX, named as the temporary files of merge_temporaries.py."""
    prefix = out / temporary_prefix(name)
    for _ in range(100):
        suffix = "".join(SUFFIX_CHARACTERS[byte % len(SUFFIX_CHARACTERS)] for byte in os.urandom(SUFFIX_LENGTH))
        path = Path(f"{prefix}{suffix}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused directory name", str(prefix))


def exchange(first, second):
    """Swaps two directory entries in one step with renameat2(RENAME_EXCHANGE) (Linux 3.15, glibc
    2.28). Returns False where the system or the file system does not support it."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    number = ctypes.get_errno()
    if number in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(number, os.strerror(number), str(second))


def replace_directory(new, merged):
    """Puts the directory `new` in the place of `merged`, and removes the earlier merged/."""
    if not merged.exists():
        new.rename(merged)
        return
    if not merged.is_dir() or merged.is_symlink():
        fail(f"cannot replace {merged}: it is not a directory; move it away")
    if exchange(new, merged):
        earlier = new
    else:
        earlier = make_hidden_directory(merged.parent, "merged.old")
        merged.rename(earlier / "merged")
        try:
            new.rename(merged)
        except OSError:
            (earlier / "merged").rename(merged)
            raise
    shutil.rmtree(earlier, ignore_errors=True)


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
        print(f"ccnet-merge.py: interrupted by {signal.Signals(number).name}; the unfinished merge was removed "
              "and merged/ is as it was",
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

    files = {i: listed_files(mined, i) for i in range(args.shards)}
    names = sorted({name for listed in files.values() for name in listed})
    stats = merge_stats(mined, args.shards)
    merged = args.out / "merged"
    remove_stale_directories(args.out)
    try:
        new = make_hidden_directory(args.out, "merged")
    except OSError as error:
        fail(f"cannot create a directory in {args.out}: {error.strerror}; check its permissions")
    try:
        for name in names:
            sources = [mined / shard_name(i) / name for i in range(args.shards) if name in files[i]]
            write_atomically(new / name, lambda stream: concatenate(sources, stream), merged / name)
        text = json.dumps(stats, ensure_ascii=False, indent=1) + "\n"
        write_atomically(new / "stats.json", lambda stream: stream.write(text.encode("utf-8")), merged / "stats.json")
        # A signal between the two renames of the fallback would leave no merged/, so signals wait
        # until the new merged/ is in place. One that came meanwhile stops nothing any more.
        blocked = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        replace_directory(new, merged)
        for number in blocked:
            signal.signal(number, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    except BaseException:
        # A failed merge (a full disk, a signal) leaves merged/ as it was, because a half-merged
        # directory would pass for the output of fewer shards.
        shutil.rmtree(new, ignore_errors=True)
        raise
    print(f"ccnet-merge.py: merged {args.shards} shards into {len(names)} files in {merged}", file=sys.stderr)


if __name__ == "__main__":
    main()
