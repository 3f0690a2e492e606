# Shell functions for the benchmarks that compare CPU times; source this file.

# cpu_seconds COMMAND...: prints the user + system seconds of one run of COMMAND, whose stdout is
# discarded and whose stderr is kept in log.last (printed if the command fails).
cpu_seconds() {
    /usr/bin/time -f "%U %S" -o time.out "$@" > /dev/null 2> log.last || { cat log.last >&2; exit 1; }
    read -r user sys < time.out
    echo "$user + $sys" | bc
}

# median < FILE: the median of the numbers in FILE, one per line (the lower middle one for an even
# count).
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
