#!/bin/bash
# System calls, context switches and task-clock per MB for `benchmark --cpu`,
# with `perf stat` standing in for valgrind:
#
#   cargo run --release --example benchmark -- --cpu --op plain,burst,upload \
#       --repeat 1 --callgrind client,server --callgrind-repeat 3 \
#       --valgrind examples/benchmark/syscalls.sh --callgrind-dir DIR
#
# The benchmark runs the measured side as `VALGRIND --tool=callgrind
# --callgrind-out-file=FILE PROGRAM ARGS...`; this script runs PROGRAM under
# `perf stat` instead (natively), writes its counters to FILE.perf and its
# system-call count to FILE as the `totals:` line, so the table's "instr/MB"
# columns read as system calls per MB ((N(10 MB) − N(0 B)) / 10, median of
# the runs). `examples/benchmark/syscalls_per_mb.py DIR` prints every counter
# per MB. Needs perf with the raw_syscalls and syscalls tracepoints (root, or
# kernel.perf_event_paranoid ≤ -1).
if [ "$1" = "--version" ]; then
    echo "perf stat stand-in for valgrind"
    exit 0
fi
out=${2#--callgrind-out-file=}
shift 2
events=task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter
for call in sendto recvfrom sendmmsg recvmmsg ppoll futex sched_yield pwrite64 pwritev pread64 write read; do
    events="$events,syscalls:sys_enter_$call"
done
perf stat -x, -o "$out.perf" -e "$events" -- "$@"
rc=$?
n=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$out.perf")
echo "totals: ${n:-0}" > "$out"
exit $rc
