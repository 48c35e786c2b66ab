#!/usr/bin/env python3
"""Structural lints of tokengate.h, run by `make test` (make test-lint).

  macros     every private macro (TG__*) is #undef'd after its last
             definition, except those a public macro expands to
  contents   every implementation banner has a ">>name" marker, and the
             CONTENTS list names every marker with the banner's title, in
             the order of the file
  atomics    no raw __atomic_ builtin outside the block of wrappers
  functions  no function is longer than 80 lines
  monitor    the monitor's section uses, of the private names defined
             outside it, only those its "monitor-uses:" line lists
  defaults   each row of tg__config_fields (the defaults in the code) shows
             the same default and bound in section 4 of the documentation
             and in README.md's configuration table

Usage: tests/lint.py [HEADER] [--longest] (--longest: the 15 longest
functions too). Prints one line per check and ends with
"N passed, N failed"; exits 1 on a failure.
"""
import re
import sys

MAX_FUNCTION_LINES = 80
# Private macros that public macros expand to: they stay defined.
PUBLIC_HELPERS = {"TG__OPERATION"}
README = "README.md"
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


def section(lines, marker):
    """The lines of the implementation section whose banner has `marker`."""
    found = banners(lines)
    for k, (number, _, m) in enumerate(found):
        if m == marker:
            end = found[k + 1][0] - 1 if k + 1 < len(found) else len(lines)
            return lines[number - 1:end - 1]
    return []


def check_monitor(lines):
    body = section(lines, ">>monitor")
    if not body:
        return ["no >>monitor section"]
    text = "\n".join(body)
    m = re.search(r"monitor-uses:([^*]*)\*/", text)
    if not m:
        return ["the monitor section has no monitor-uses: line"]
    allowed = set(m.group(1).split())
    # drop comments and strings: names there are not uses
    code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
    defined = set(re.findall(r"^(?:static|TG_API)[^;=(]*?\b((?:tg|TG)__\w+)\s*[(\[=]", code, flags=re.M))
    defined |= set(re.findall(r"#\s*define\s+(TG__\w+)", code))
    defined |= set(re.findall(r"}\s*(tg__\w+)\s*;", code))
    defined |= set(re.findall(r"struct\s+(tg__\w+)\s*{", code))
    for body_ in re.findall(r"enum\s*{([^}]*)}", code):
        defined |= set(re.findall(r"(TG__\w+)", body_))
    used = set(re.findall(r"\b((?:tg|TG)__\w+)", code))
    return [f"{name} is private, defined outside the monitor, and not in its monitor-uses: line"
            for name in sorted(used - defined - allowed)] + \
           [f"{name} is in monitor-uses: but the monitor does not use it" for name in sorted(allowed - used)]


def check_defaults(lines):
    text = "\n".join(lines)
    rows = re.findall(r"TG__CONFIG_FIELD\((\w+), ([^,]+), ([^,]+), ([^,]+), ([01])\)", text)
    if not rows:
        return ["no TG__CONFIG_FIELD rows (tg__config_fields)"]
    start = next((i for i, l in enumerate(lines) if l.strip() == "4. CONFIGURATION"), None)
    if start is None:
        return ["no section 4. CONFIGURATION"]
    doc, last = {}, None
    for line in lines[start:start + 60]:
        m = re.match(r"\s{5}(\w+)\s{2,}(.*)$", line)
        if m:
            last = m.group(1)
            doc[last] = m.group(2)
        elif last and re.match(r"\s{20,}\S", line):
            doc[last] += " " + line.strip()     # a row's second line
        else:
            last = None

    def number(expr):
        expr = expr.strip().replace("u", "")
        if expr == "TG_MAX_TOKENS":
            return 1 << 28
        return eval(expr, {"__builtins__": {}})

    def shown(value, row):
        plain = row.replace(",", "")
        forms = {str(value), f"{value:,}".replace(",", "")}
        if value and value & (value - 1) == 0:
            forms.add(f"1<<{value.bit_length() - 1}")
        return any(re.search(r"(?<![\w<])" + re.escape(f) + r"(?![\w<])", plain) for f in forms)

    readme = {}
    try:
        for line in open(README, encoding="utf-8"):
            m = re.match(r"\|\s*`(\w+)`\s*\|(.*)\|\s*$", line)
            if m:
                readme.setdefault(m.group(1), m.group(2))
    except OSError:
        return [f"no {README}"]
    problems = []
    for name, fallback, lo, hi, _ in rows:
        for where, table in (("section 4", doc), (README, readme)):
            row = table.get(name)
            if row is None:
                problems.append(f"{name}: no row in the table of {where}")
                continue
            for what, expr in (("default", fallback), ("upper bound", hi)):
                if not shown(number(expr), row):
                    problems.append(f"{name}: {where} does not show the {what} {expr.strip()} ({row.strip()})")
    return problems


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = args[0] if args else "tokengate.h"
    lines = open(path, encoding="utf-8").read().split("\n")
    checks = [
        ("every private macro is #undef'd at the end", check_macros),
        ("every banner has a marker and is in the CONTENTS, in order", check_contents),
        ("no raw __atomic_ outside the wrapper block", check_atomics),
        (f"no function over {MAX_FUNCTION_LINES} lines", check_functions),
        ("the monitor uses only the private helpers it names", check_monitor),
        ("the defaults in the code are the defaults of section 4", check_defaults),
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
