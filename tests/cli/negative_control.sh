# Negative control: expects `--version` to fail, which it does not, so this script must fail.
# CTest marks it WILL_FAIL; if it ever passes, the harness has stopped detecting failures.
. "$(dirname "$0")/lib.sh"
for exe in "$BIN"/*; do
    run_case "$(basename "$exe") --version must fail" 1 "" -- "$exe" --version
    break
done
[ -n "$(ls "$BIN" 2>/dev/null)" ] || fail "no tools built in $BIN"
finish
