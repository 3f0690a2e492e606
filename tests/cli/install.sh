# The installed tree: tools that run from it, and scripts that keep their execute bits.
. "$(dirname "$0")/lib.sh"
build=$(cd "$BIN/.." && pwd)
prefix="$WORK/prefix"
cmake --install "$build" --prefix "$prefix" > "$WORK/install.log" 2>&1 || fail "cmake --install failed: $(tail -3 "$WORK/install.log")"
for script in slurm/ccnet-submit.sh slurm/ccnet-hash.sbatch slurm/merge-shards.py demo/faithful.sh; do
    [ -x "$prefix/share/scorekit/$script" ] || fail "installed $script is not executable"
done
for tool in "$BIN"/*; do
    name=$(basename "$tool")
    env -i "$prefix/bin/$name" --version > "$WORK/version" 2>&1 || fail "installed $name --version failed: $(cat "$WORK/version")"
done
finish
