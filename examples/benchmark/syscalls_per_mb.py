#!/usr/bin/env python3
"""Per-MB counters of a `benchmark --cpu --valgrind examples/benchmark/syscalls.sh
--callgrind-dir DIR` run: (count of a sized run − count of the 0 B run) / size
in MB (10^6 B, from the file name), median over the repeats, for each op and
side. task-clock in ms per MB."""
import glob
import statistics
import sys

KEYS = ["task-clock", "syscalls", "sendto", "recvfrom", "sendmmsg", "recvmmsg", "ppoll",
        "futex", "sched_yield", "pwrite64", "pwritev", "pread64", "write", "read", "context-switches"]


def counters(path):
    out = {}
    for line in open(path):
        fields = line.strip().split(",")
        if line.startswith("#") or len(fields) < 3:
            continue
        name = fields[2].replace("raw_syscalls:sys_enter", "syscalls")
        name = name.replace("syscalls:sys_enter_", "")
        try:
            out[name] = float(fields[0])
        except ValueError:
            pass
    return out


def main(directory):
    print("| op | side | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 2) + "|")
    for op in ["plain", "burst", "upload"]:
        for side in ["client", "server"]:
            empty = glob.glob(f"{directory}/callgrind.{op}.{side}.0B.*.perf")
            if not empty:
                continue
            base = counters(empty[0])
            # callgrind.OP.SIDE.BYTESB.REP.perf
            runs = [(counters(f), int(f.split(".")[-3][:-1]) / 1e6)
                    for f in glob.glob(f"{directory}/callgrind.{op}.{side}.*.perf")
                    if ".0B." not in f]
            if not runs:
                continue
            cells = []
            for key in KEYS:
                per_mb = statistics.median((r.get(key, 0) - base.get(key, 0)) / mb
                                           for r, mb in runs)
                cells.append(f"{per_mb:.1f}" if key == "task-clock" else f"{per_mb:.0f}")
            print(f"| {op} | {side} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
