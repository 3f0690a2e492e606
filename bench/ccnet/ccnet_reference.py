#!/usr/bin/python3
"""Runs cc_net's own hash and mine steps on local WET files, for the benchmark.

Uses a local copy of facebookresearch/cc_net unchanged (CCNET_DIR on sys.path). The only shim:
cc_net's process_wet_file imports func_argparse (for its command line only), which Debian does
not package, so an empty module replaces it. Local files are read through cc_net's own
segment cache: CCSegmentsReader opens cache_dir/<file name> when it exists.

    ccnet_reference.py hash OUTPUT.npy SEGMENT...
    ccnet_reference.py mine OUTPUT_DIR LID_MODEL HASHES.npy SEGMENT...
    ccnet_reference.py mine_lm OUTPUT_DIR LID_MODEL SP_MODEL LM_MODEL CUTOFF_CSV SEGMENT...

mine_lm runs language identification, then cc_net's perplexity steps for English (SentencePiece
on normalised text, KenLM's DocLM, PerplexityBucket), without dedup; it needs Debian's
python3-sentencepiece and KenLM's Python module built from a local copy of its source.

SEGMENT paths are relative to the current directory (they become cc_segment) and must all be in
one directory.
"""
import logging
import os
import sys
import types
from pathlib import Path

sys.path.insert(0, os.environ["CCNET_DIR"])
sys.modules.setdefault("func_argparse", types.ModuleType("func_argparse"))

from cc_net import dedup, jsonql, process_wet_file, split_by_lang  # noqa: E402
from cc_net.flat_hash_set import FlatHashSet  # noqa: E402

MIN_LEN = 300  # cc_net's Config.min_len


def reader(segments):
    cache_dir = Path(segments[0]).parent
    return process_wet_file.CCSegmentsReader(segments, min_len=MIN_LEN, cache_dir=cache_dir)


def hash_shard(output, segments):
    # As mine.py's _hashes_shard.
    jsonql.run_pipes(dedup.HashesCollector(field="raw_content", output=Path(output)), inputs=reader(segments))


def mine_shard(output_dir, lid_model, hashes, segments):
    # As mine.py's _mine_shard with the pipeline dedup, lid, split_by_lang (no LM yet).
    steps = [
        dedup.DuplicatesRemover(field="raw_content", hashes_files=[Path(hashes)]),
        split_by_lang.Classifier(model=Path(lid_model), field="raw_content", out_field="language",
                                 top=1, threshold=0.5),
        jsonql.split(pattern=str(Path(output_dir) / "{language}.json.gz"), mkdir=True),
    ]
    jsonql.run_pipes(*steps, inputs=reader(segments))


def mine_lm_shard(output_dir, lid_model, sp_model, lm_model, cutoff, segments):
    # As mine.py's _mine_shard with the pipeline lid, sp, lm, pp_bucket, drop, split_by_lang.
    from cc_net import perplexity  # imports kenlm and sentencepiece

    steps = [
        split_by_lang.Classifier(model=Path(lid_model), field="raw_content", out_field="language",
                                 top=1, threshold=0.5),
        perplexity.MultiSentencePiece({"en": Path(sp_model)}, field="raw_content", output_field="tokenized",
                                      normalize=True),
        perplexity.DocLM({"en": Path(lm_model)}, field="tokenized", output_field="perplexity", normalize=False),
        perplexity.PerplexityBucket(Path(cutoff)),
        perplexity.DropKeys("tokenized"),
        jsonql.split(pattern=str(Path(output_dir) / "{language}_{bucket}.json.gz"), mkdir=True),
    ]
    jsonql.run_pipes(*steps, inputs=reader(segments))


def main():
    logging.basicConfig(level=logging.INFO, format="cc_net: %(message)s")
    print("cc_net FlatHashSet implementation:", FlatHashSet.__name__, file=sys.stderr)
    command, args = sys.argv[1], sys.argv[2:]
    if command == "hash":
        hash_shard(args[0], args[1:])
    elif command == "mine":
        mine_shard(args[0], args[1], args[2], args[3:])
    elif command == "mine_lm":
        mine_lm_shard(args[0], args[1], args[2], args[3], args[4], args[5:])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
