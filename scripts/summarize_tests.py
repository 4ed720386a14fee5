#!/usr/bin/env python3
"""Sums Catch2 test-case counts from a meson testlog.json.

Prints "P passed, F failed". A test program without a Catch2 summary (an
example run, or a crash) counts as one case, passed or failed by its exit.
"""
import json
import re
import sys

ALL_PASSED = re.compile(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)")
COUNTS = re.compile(r"test cases:\s+(\d+)\s+\|\s+(\d+) passed(?:\s+\|\s+(\d+) failed)?")
FAILED_ONLY = re.compile(r"test cases:\s+(\d+)\s+\|\s+(\d+) failed")


def counts_for(entry):
    out = entry.get("stdout") or ""
    ok = entry.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
    match = ALL_PASSED.search(out)
    if match:
        return int(match.group(1)), 0 if ok else 1
    match = COUNTS.search(out)
    if match:
        return int(match.group(2)), int(match.group(3) or 0)
    match = FAILED_ONLY.search(out)
    if match:
        return 0, int(match.group(2))
    return (1, 0) if ok else (0, 1)


def main(path):
    passed = failed = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            line = line.strip()
            if not line:
                continue
            p, f = counts_for(json.loads(line))
            passed += p
            failed += f
    print(f"{passed} passed, {failed} failed")


if __name__ == "__main__":
    main(sys.argv[1])
