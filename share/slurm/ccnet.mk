# The CCNet pipeline over a path list as a SLURM workflow: a hash job array, a mine job array
# that starts when every hash task has succeeded (afterok), and a merge job that gathers the
# per-shard outputs into one file per language (or per language and bucket) with summed
# statistics. See docs/cluster.md for sizing.
#
#   make -f ccnet.mk PATHS=wet.paths.gz SHARDS=100 OUT=cc-2019-09 submit
#   make -f ccnet.mk SHARDS=100 OUT=cc-2019-09 status      # finished shards per phase
#   make -f ccnet.mk OUT=cc-2019-09 cancel                 # cancel the last submission
#   make -f ccnet.mk SHARDS=100 OUT=cc-2019-09 merge       # run the merge here, without SLURM
#
# `submit` again after a failed, cancelled or preempted task submits only the shards without a
# done marker, then a new merge. Variables:
#   GROUP_SIZE   shards per dedup group (50, as cc_net); the merged output equals a single
#                `mine` run over the whole path list when GROUP_SIZE >= SHARDS
#   CCNET_FLAGS  ccnet-filter options for both phases (for example --min-len 300)
#   MINE_FLAGS   options for mine only (for example --lid-model lid.176.bin --lang en,de)
#   SBATCH_FLAGS, HASH_SBATCH_FLAGS, MINE_SBATCH_FLAGS, MERGE_SBATCH_FLAGS, ARRAY_LIMIT
#                passed to sbatch (see ccnet-submit.sh)

SLURM_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PATHS ?=
SHARDS ?=
OUT ?= ccnet
GROUP_SIZE ?= 50
CCNET_FLAGS ?=
MINE_FLAGS ?=
SBATCH_FLAGS ?=
HASH_SBATCH_FLAGS ?=
MINE_SBATCH_FLAGS ?=
MERGE_SBATCH_FLAGS ?=
ARRAY_LIMIT ?=
export CCNET_FLAGS MINE_FLAGS SBATCH_FLAGS HASH_SBATCH_FLAGS MINE_SBATCH_FLAGS MERGE_SBATCH_FLAGS ARRAY_LIMIT

.PHONY: submit status cancel merge check-shards

check-shards:
	@test -n "$(SHARDS)" || { echo "ccnet.mk: SHARDS is not set; give SHARDS=N (the array size)" >&2; exit 2; }

submit: check-shards
	@test -n "$(PATHS)" || { echo "ccnet.mk: PATHS is not set; give PATHS=wet.paths.gz" >&2; exit 2; }
	$(SLURM_DIR)/ccnet-submit.sh "$(PATHS)" "$(SHARDS)" "$(OUT)" "$(GROUP_SIZE)"

status: check-shards
	@echo "hash: $$(ls $(OUT)/hashes/*.bin.done 2>/dev/null | wc -l) of $(SHARDS) shards done"
	@echo "mine: $$(ls $(OUT)/mined/*.done 2>/dev/null | wc -l) of $(SHARDS) shards done"
	@if [ -f $(OUT)/merged/stats.json ]; then echo "merge: done ($(OUT)/merged)"; else echo "merge: not done"; fi
	@if [ -s $(OUT)/jobs ]; then squeue --jobs="$$(paste -sd, $(OUT)/jobs)" 2>/dev/null || true; fi

cancel:
	@if [ -s $(OUT)/jobs ]; then scancel $$(cat $(OUT)/jobs); else echo "ccnet.mk: no jobs recorded in $(OUT)/jobs"; fi

merge: check-shards
	python3 $(SLURM_DIR)/ccnet-merge.py --shards "$(SHARDS)" "$(OUT)"
