#!/usr/bin/python3
"""Writes hash files of random 64-bit hashes in ccnet-filter's format (version 1), to measure
the memory that `mine` needs for a large dedup group without hashing terabytes of WET.

    make_hash_files.py OUTPUT_DIR FILES HASHES_PER_FILE

The files overlap by 10% (the same hashes in neighbouring files), and 5% of each file's hashes
carry the duplicate flag. Layout: see the HASH FILE FORMAT section of ccnet-filter(1).
"""
import struct
import sys
import zlib
from pathlib import Path

import numpy as np


def main():
    out, files, per_file = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    previous = np.empty(0, dtype="<u8")
    for f in range(files):
        fresh = rng.integers(1, 2**64 - 1, size=per_file - len(previous) // 10, dtype=np.uint64)
        keys = np.unique(np.concatenate([fresh, previous[: len(previous) // 10]])).astype("<u8")
        flags = rng.random(len(keys)) < 0.05
        bits = np.packbits(flags, bitorder="little").tobytes()
        payload = keys.tobytes()
        crc = zlib.crc32(bits, zlib.crc32(payload))
        header = b"SKCCHASH" + struct.pack("<IIQQQII", 1, 48, len(keys), 0, 0, crc, 0)
        with open(out / f"{f:04d}.bin", "wb") as o:
            o.write(header)
            o.write(payload)
            o.write(bits)
        previous = keys
        print(f"{out / f'{f:04d}.bin'}: {len(keys)} hashes", file=sys.stderr)


if __name__ == "__main__":
    main()
