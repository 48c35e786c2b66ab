#!/usr/bin/env python3
"""Structural lints of tokengate.h, run by `make test` (make test-lint).

  macros     every private macro (TG__*) is #undef'd after its last
             definition, except those a public macro expands to
  contents   every implementation banner has a ">>name" marker, and the
             CONTENTS list names every marker with the banner's title, in
             the order of the file
  atomics    no raw __atomic_ builtin outside the block of wrappers
  functions  no function is longer than 80 lines

Usage: tests/lint.py [HEADER]. Prints one line per check and ends with
"N passed, N failed"; exits 1 on a failure.
"""
import re
import sys

MAX_FUNCTION_LINES = 80
# Private macros that public macros expand to: they stay defined.
PUBLIC_HELPERS = {"TG__OPERATION"}
DASHES = "/* " + "-" * 72 + " */"
ATOMICS_BEGIN = "/* >>atomics-begin: the only raw __atomic_ builtins of the file */"
ATOMICS_END = "/* >>atomics-end */"


def check_macros(lines):
    defined, undefined = {}, {}
    for number, line in enumerate(lines, 1):
        m = re.match(r"\s*#\s*define\s+(TG__\w+)", line)
        if m:
            defined[m.group(1)] = number
        m = re.match(r"\s*#\s*undef\s+(TG__\w+)", line)
        if m:
            undefined[m.group(1)] = number
    problems = []
    for name, last in sorted(defined.items(), key=lambda kv: kv[1]):
        if name in PUBLIC_HELPERS:
            continue
        if name not in undefined:
            problems.append(f"{name} (line {last}) is never #undef'd")
        elif undefined[name] < last:
            problems.append(f"{name} is #undef'd (line {undefined[name]}) before its last definition (line {last})")
    return problems


def banners(lines):
    """(line number, title, marker) of every banner of the implementation."""
    found = []
    for i in range(len(lines) - 3):
        if lines[i] == DASHES and lines[i + 2] == DASHES:
            m = re.match(r"/\* (.*?)\s*\*/$", lines[i + 1])
            title = m.group(1) if m else lines[i + 1]
            m = re.match(r"/\* (>>[a-z0-9-]+) \*/$", lines[i + 3])
            found.append((i + 2, title, m.group(1) if m else None))
    return found


def check_contents(lines):
    problems = []
    found = banners(lines)
    if not found:
        return ["no banner found"]
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == "CONTENTS")
        end = next(i for i in range(start, len(lines)) if "*/" in lines[i] or lines[i].strip().startswith("1. OVERVIEW"))
    except StopIteration:
        return ["no CONTENTS list"]
    listed = []
    for line in lines[start:end]:
        m = re.match(r"\s+(>>[a-z0-9-]+)\s+(.*\S)\s*$", line)
        if m:
            listed.append((m.group(1), m.group(2)))
    for number, title, marker in found:
        if marker is None:
            problems.append(f"banner '{title}' (line {number}) has no >>marker line under it")
        elif (marker, title) not in listed:
            problems.append(f"banner '{marker} {title}' (line {number}) is not in the CONTENTS")
    body = [(m, t) for _, t, m in found if m]
    if [m for m, _ in listed] != [m for m, _ in body] and not problems:
        problems.append("the CONTENTS list the banners in another order than the file, or list one that is gone")
    markers = [m for m, _ in body]
    for m in set(markers):
        if markers.count(m) > 1:
            problems.append(f"marker {m} is used by more than one banner")
    return problems


def check_atomics(lines):
    problems = []
    inside = False
    seen_block = False
    for number, line in enumerate(lines, 1):
        if line.strip() == ATOMICS_BEGIN:
            inside, seen_block = True, True
            continue
        if line.strip() == ATOMICS_END:
            inside = False
            continue
        if not inside and "__atomic_" in line:
            problems.append(f"line {number}: {line.strip()}")
    if not seen_block:
        problems.append("no wrapper block (" + ATOMICS_BEGIN + ")")
    return problems


def functions(lines):
    """(name, first line, length) of every function definition whose body
    closes with a "}" in column 0."""
    out = []
    signature = None
    start = None
    for number, line in enumerate(lines, 1):
        if start is None:
            if re.match(r"[A-Za-z_].*\(", line) and not line.rstrip().endswith(";") \
                    and not line.startswith("#") and not line.startswith("typedef"):
                signature = (number, line)
                if line.rstrip().endswith("{"):
                    start = signature
            elif signature and line.startswith("{"):
                start = signature
            elif line.strip() == "" or line.startswith("}"):
                signature = None
        elif line.startswith("}"):
            name = re.sub(r"\(.*", "", start[1]).split()[-1].lstrip("*")
            out.append((name, start[0], number - start[0] + 1))
            start, signature = None, None
    return out


def check_functions(lines):
    return [f"{name} (line {first}) has {length} lines"
            for name, first, length in functions(lines) if length > MAX_FUNCTION_LINES]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tokengate.h"
    lines = open(path, encoding="utf-8").read().split("\n")
    checks = [
        ("every private macro is #undef'd at the end", check_macros),
        ("every banner has a marker and is in the CONTENTS, in order", check_contents),
        ("no raw __atomic_ outside the wrapper block", check_atomics),
        (f"no function over {MAX_FUNCTION_LINES} lines", check_functions),
    ]
    passed = failed = 0
    for description, check in checks:
        problems = check(lines)
        if problems:
            failed += 1
            print(f"FAIL {description}")
            for p in problems:
                print(f"     {p}")
        else:
            passed += 1
            print(f"ok   {description}")
    if "--longest" in sys.argv:
        for name, first, length in sorted(functions(lines), key=lambda f: -f[2])[:15]:
            print(f"     {length:4d} {name} (line {first})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
