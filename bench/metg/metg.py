#!/usr/bin/env python3
"""metg.py - the sweep plan and the statistics of bench/metg/metg.sh.

  metg.py plan --mode full|quick --ns-per-iter X --width W
      prints one line per sweep point: LABEL SIZE_NS ITERS STEPS
  metg.py report --raw FILE --cores N --width W --md OUT.md --svg OUT.svg
                 --data DIR --systems "a b ..." [--na "sys=reason" ...]
                 [--info "key=value" ...]
      reads the raw log the driver wrote, checks every checksum against the
      serial one, computes efficiency and METG(50%) as Task Bench does,
      writes the Markdown report and the gnuplot SVG, prints one summary
      line per pattern, and exits 1 if any run failed or any checksum is
      wrong.

Definitions (per pattern; a run's numbers are the median wall of its reps):
  throughput  = tasks * iters / wall          (kernel iterations per second)
  peak        = best throughput of any system at any size
  efficiency  = throughput / peak
  granularity = wall * cores / tasks          (us of wall-core per task)
  METG(50%)   = the smallest granularity at which efficiency is still
                >= 50%: the smallest task size whose run reaches 50%, and
                the next smaller one (below 50%), interpolated linearly in
                log(granularity) to 50%; "< G" (G the smallest granularity
                measured) if even the smallest size reaches 50%; "n/a" if
                no size does.  (A dip below 50% at a larger size, noise on
                a shared VM, does not end the curve: slowdowns are what
                noise makes here, so the last point at 50% is the robust
                one.)
"""
import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys

PATTERNS = ["trivial", "stencil_1d", "tree", "fft", "nearest"]

# (label, size in ns) of the sweeps; the 50 us point is in both
FULL_SIZES = [("100ms", 100e6), ("31.6ms", 31.6e6), ("10ms", 10e6), ("3.16ms", 3.16e6),
              ("1ms", 1e6), ("316us", 316e3), ("100us", 100e3), ("50us", 50e3),
              ("31.6us", 31.6e3), ("10us", 10e3), ("5us", 5e3), ("3.16us", 3.16e3),
              ("1us", 1e3)]
QUICK_SIZES = [("10ms", 10e6), ("1ms", 1e6), ("100us", 100e3), ("50us", 50e3), ("5us", 5e3)]

# work per run in core-seconds (a parallel run on 2 cores takes about half),
# the fewest steps, and the most tasks a run may have
PLAN = {"full": (FULL_SIZES, 0.35, 5, 100000), "quick": (QUICK_SIZES, 0.1, 5, 20000)}

POINT_50US = "50us"
OUTLIER = 3.0   # a run this many times its point's median wall is listed


def plan(args):
    sizes, work, min_steps, max_tasks = PLAN[args.mode]
    for label, size_ns in sizes:
        iters = max(1, round(size_ns / args.ns_per_iter))
        steps = round(work / (args.width * size_ns * 1e-9))
        steps = max(min_steps, min(steps, max_tasks // args.width))
        print(label, int(size_ns), iters, steps)


# ---------------------------------------------------------------- reading

def parse_kv(line):
    kv = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            kv[k] = v
    return kv


def read_raw(path):
    """Returns (points, results, failures): points[(pattern, label)] = dict
    with size_ns, iters, steps; results[(pattern, label, system)] = list of
    RESULT dicts; failures = list of FAIL and ERROR dicts (with reason)."""
    points, results, failures = {}, {}, []
    with open(path) as f:
        for line in f:
            kind = line.split(" ", 1)[0]
            kv = parse_kv(line)
            if kind == "POINT":
                points[(kv["pattern"], kv["label"])] = kv
            elif kind == "RESULT":
                results.setdefault((kv["pattern"], kv["label"], kv["system"]), []).append(kv)
            elif kind == "FAIL":
                kv["reason"] = kv.get("reason", "").replace("_", " ")
                failures.append(kv)
            elif kind == "ERROR":   # a TokenGate call's error code, as printed
                name = kv.get("name", "").replace("+", " ")
                kv["reason"] = "%s returned %s (%s) at task (%s,%s)" % (
                    kv.get("call"), kv.get("rc"), name, kv.get("t"), kv.get("i"))
                failures.append(kv)
    return points, results, failures


# ---------------------------------------------------------------- checks

def check_checksums(points, results, systems):
    """Compares every run's checksum with the serial run's of its point;
    returns a list of FAIL dicts for the mismatches."""
    bad = []
    for (pattern, label) in points:
        ref = {r["checksum"] for r in results.get((pattern, label, "serial"), [])}
        if len(ref) != 1:
            bad.append({"system": "serial", "pattern": pattern, "label": label,
                        "reason": "no-serial-reference" if not ref else "serial-disagrees"})
            continue
        for s in systems:
            for r in results.get((pattern, label, s), []):
                if r["checksum"] not in ref or r.get("ok") != "1":
                    bad.append({"system": s, "pattern": pattern, "label": label,
                                "reason": "checksum %s != serial %s" % (r["checksum"], min(ref))})
    return bad


# ---------------------------------------------------------------- statistics

def measure(points, results, systems, cores):
    """Per (pattern, label, system): median wall, throughput, granularity,
    then efficiency against the pattern's peak.  Returns stats dict and
    peaks dict."""
    stats, peaks = {}, {}
    for (pattern, label, s), runs in results.items():
        if s not in systems or (pattern, label) not in points:
            continue
        walls = [float(r["wall_ns"]) * 1e-9 for r in runs]
        wall = statistics.median(walls)
        tasks, iters = int(runs[0]["tasks"]), int(runs[0]["iters"])
        thr = tasks * iters / wall
        stats[(pattern, label, s)] = {"wall": wall, "thr": thr, "reps": len(runs),
                                      "gran_us": wall * cores / tasks * 1e6,
                                      "min": min(walls), "max": max(walls)}
        peaks[pattern] = max(peaks.get(pattern, 0.0), thr)
    for (pattern, label, s), st in stats.items():
        st["eff"] = st["thr"] / peaks[pattern]
    return stats, peaks


def metg(curve, threshold=0.5):
    """curve: [(granularity_us, efficiency)] from the largest task size to
    the smallest.  The last point (the smallest task size) still at or above
    the threshold, interpolated towards the next one, which is below it.
    Returns (kind, value): ("at", g), ("below", gmin) or ("na", None)."""
    above = [k for k, (_, e) in enumerate(curve) if e >= threshold]
    if not above:
        return ("na", None)
    k = above[-1]
    if k == len(curve) - 1:
        return ("below", min(g for g, _ in curve))
    (g1, e1), (g2, e2) = curve[k], curve[k + 1]
    x1, x2 = math.log(g1), math.log(g2)
    return ("at", math.exp(x1 + (threshold - e1) * (x2 - x1) / (e2 - e1)))


def fmt_us(g):
    return "%.3g" % g if g < 100 else "%.0f" % g


def metg_cell(kind, value):
    if kind == "at":
        return fmt_us(value)
    if kind == "below":
        return "< %s" % fmt_us(value)
    return "n/a"


# ---------------------------------------------------------------- report

class Report:
    def __init__(self, args, points, results, failures):
        self.args = args
        self.systems = args.systems.split()
        self.na = dict(x.split("=", 1) for x in args.na)
        self.info = [x.split("=", 1) for x in args.info]
        self.points, self.failures = points, failures
        self.tasks = {(pt, l): int(runs[0]["tasks"]) for (pt, l, _), runs in results.items()}
        self.stats, self.peaks = measure(points, results, self.systems, args.cores)
        self.failed = {(f["pattern"], f.get("label"), f["system"]) for f in failures}
        self.failed_ps = {(f["pattern"], f["system"]) for f in failures}
        self.labels = {}
        for (pattern, label), p in sorted(points.items(), key=lambda kv: -int(kv[1]["size_ns"])):
            self.labels.setdefault(pattern, []).append(label)
        self.patterns = [p for p in PATTERNS if p in self.labels]

    def curve(self, pattern, s):
        return [(self.stats[(pattern, l, s)]["gran_us"], self.stats[(pattern, l, s)]["eff"])
                for l in self.labels[pattern] if (pattern, l, s) in self.stats]

    def metg_of(self, pattern, s):
        """The METG cell text of a system for a pattern."""
        if s in self.na:
            return "n/a (not built)"
        if s == "serial":
            return "—"
        if (pattern, s) in self.failed_ps:
            return "FAILED"
        c = self.curve(pattern, s)
        return metg_cell(*metg(c)) if c else "n/a"

    def eff_at(self, pattern, label, s):
        if s in self.na:
            return "n/a"
        if (pattern, label, s) in self.failed:
            return "FAILED"
        st = self.stats.get((pattern, label, s))
        return "%.0f%%" % (100 * st["eff"]) if st else "—"

    def table(self, head, rows):
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out) + "\n"

    def metg_table(self):
        rows = [[p] + [self.metg_of(p, s) for s in self.systems] for p in self.patterns]
        return self.table(["pattern"] + self.systems, rows)

    def eff50_table(self):
        rows = [[p] + [self.eff_at(p, POINT_50US, s) for s in self.systems]
                for p in self.patterns if POINT_50US in self.labels[p]]
        return self.table(["pattern"] + self.systems, rows)

    def sweep_cell(self, pattern, label, s):
        if s in self.na:
            return ["n/a", "n/a"]
        if (pattern, label, s) in self.failed:
            return ["FAILED", "FAILED"]
        st = self.stats.get((pattern, label, s))
        if not st:
            return ["—", "—"]
        return ["%.1f" % (st["wall"] * 1e3),
                "%.0f%% (%s)" % (100 * st["eff"], fmt_us(st["gran_us"]))]

    def sweep_table(self, pattern):
        head = ["size", "steps", "tasks"]
        for s in self.systems:
            head += [s + " ms", s + " eff (gran us)"]
        rows = []
        for label in self.labels[pattern]:
            p = self.points[(pattern, label)]
            row = [label, p["steps"], str(self.tasks.get((pattern, label), "—"))]
            for s in self.systems:
                row += self.sweep_cell(pattern, label, s)
            rows.append(row)
        return self.table(head, rows)

    def outliers(self):
        """Runs more than OUTLIER times their point's median wall: stalls
        or bursts of load on the VM; the median leaves them out."""
        out = []
        for p in self.patterns:
            for l in self.labels[p]:
                for s in self.systems:
                    st = self.stats.get((p, l, s))
                    if st and st["reps"] > 1 and st["max"] > OUTLIER * st["wall"]:
                        out.append("- %s %s %s: a run of %.1f ms, median %.1f ms\n"
                                   % (p, l, s, st["max"] * 1e3, st["wall"] * 1e3))
        if not out:
            return ""
        return ("\n## Outliers\n\nRuns more than %g x the median of their point (the median "
                "leaves them out):\n\n" % OUTLIER) + "".join(out)

    def markdown(self):
        a = self.args
        info = "\n".join("- %s: %s" % (k, v) for k, v in self.info)
        na = "".join("- %s: n/a, %s\n" % (s, r) for s, r in self.na.items())
        fails = "".join("- **FAILED**: %s %s at %s: %s\n" % (
            f["system"], f["pattern"], f.get("label"), f.get("reason", "")) for f in self.failures)
        peaks = ", ".join("%s %.3g" % (p, self.peaks[p] / 1e9) for p in self.patterns)
        sizes, work, min_steps, max_tasks = PLAN[a.mode]
        plan_text = ("- sweep (%s): %s; steps per size: about %g core-seconds of kernel work "
                     "per run, at least %d steps, at most %d tasks\n"
                     % (a.mode, ", ".join(l for l, _ in sizes), work, min_steps, max_tasks))
        md = [METHOD.format(cores=a.cores, width=a.width), plan_text, info, "\n", na, fails,
              "\n## METG(50%) in us\n\nSmaller is better: the task granularity (wall x cores / "
              "tasks) at which a system still reaches half the pattern's peak throughput.\n\n",
              self.metg_table(),
              "\n## Efficiency at 50 us tasks\n\n", self.eff50_table(),
              "\nPeak throughput per pattern (10^9 kernel iterations/s): %s.\n" % peaks,
              "\n## Sweeps\n\nPer size: steps, tasks, then per system the median wall time (ms) "
              "and the efficiency with the run's task granularity in us.\n"]
        for p in self.patterns:
            md += ["\n### %s\n\n" % p, self.sweep_table(p)]
        md.append(self.outliers())
        md.append("\n![efficiency vs task granularity](%s)\n" % os.path.basename(a.svg))
        return "".join(md)

    def summary(self, pattern):
        cells = ", ".join("%s %s" % (s, self.metg_of(pattern, s)) for s in self.systems
                          if s != "serial")
        bad = sum(1 for f in self.failures if f["pattern"] == pattern)
        return "%-10s METG(50%%) us: %s; %s" % (pattern, cells,
                                               "%d FAILED" % bad if bad else "all checksums ok")


METHOD = """# METG: task-granularity sweep

The Task Bench method (Slaughter et al., SC'20) on this machine: a task graph
of `width` = {width} points by `steps` time steps, each task a compute-bound
kernel (a dependent shift-xor-multiply chain, calibrated in ns per iteration)
that hashes its inputs (its dependencies at step t-1) with the kernel result.
Each pattern is swept from 100 ms tasks down to 1 us; at each size every
system runs the same graph, one process per run, interleaved (the first
system rotates from point to point and pass to pass), and the median wall
time of the repetitions counts. A repetition is a pass over every pattern
and size, so the repetitions of a point are minutes apart and a burst of
load from another process on this shared VM spoils at most one. Per
pattern:

- throughput = tasks x iterations / wall; peak = the best throughput of any
  system at any size; efficiency = throughput / peak;
- task granularity = wall x cores / tasks, cores = {cores};
- METG(50%) = the smallest granularity at which a system still reaches 50%
  efficiency: its smallest task size still at 50% or more and the next
  smaller one, interpolated in log(granularity) to 50%; "< G" if even its
  smallest size reaches 50% (G: its smallest granularity), "n/a" if no
  size does.

Every run checks its checksum (all values of all steps, in order) against a
cheap serial reference and the driver compares it with the serial program's
checksum for the same graph. Dependencies of (t, i) on step t-1: trivial
none; stencil_1d i-1, i, i+1; tree min(2^t, width) active points, point i on
i/2; fft i and i XOR 2^((t-1) mod log2 width); nearest the 3 points
[i-1, i+1] clipped to the row, as Task Bench's nearest clips. With width 2,
stencil_1d, fft and nearest all give each task both points of the step
before (three measurements of one graph); they differ only for wider runs
(`--width`).

Systems: tokengate (one token per task, `tg_submit_after` with the previous
step's handles, released once the next step is submitted; the last step
gathered, then `tg_wait_idle` for the tokens nobody depends on; default
`tg_create(NULL, ...)`), tbb (oneTBB `flow::graph`, one `continue_node` per
task and one `make_edge` per dependency, built, run and destroyed inside the
timed run), gomp and llvm-omp (one source: `parallel` + `single` + one `task`
per graph task with `depend(in:)` on its inputs' array elements and
`depend(out:)` on its own, GCC libgomp and LLVM libomp), serial (a plain
loop on one thread, the floor; it runs once per point; its efficiency stays
near 1/cores at every size, so a METG(50%) of it would measure noise, and
the table shows "—").
Each program does one untimed warm-up run of a small graph of the same shape
first. Programs built with gcc/g++/clang -O2.

"""


# ---------------------------------------------------------------- plot

def write_data(rep, datadir):
    """One file per (pattern, system): granularity_us efficiency."""
    files = {}
    for p in rep.patterns:
        for s in rep.systems:
            c = rep.curve(p, s)
            if not c or s in rep.na:
                continue
            path = os.path.join(datadir, "%s.%s.dat" % (p, s))
            with open(path, "w") as f:
                f.writelines("%g %g\n" % (g, e) for g, e in c)
            files[(p, s)] = path
    return files


def gnuplot_script(rep, files, svg):
    """Five panels (one per pattern) and a sixth holding the legend; each
    system keeps one line type (its index) in every panel."""
    lt = {s: k + 1 for k, s in enumerate(rep.systems)}
    lines = ['set terminal svg size 1500,950 dynamic noenhanced font "sans,12" background "white"',
             'set output "%s"' % svg, "set logscale x", "set grid", "set key off",
             'set xlabel "task granularity (us) = wall x cores / tasks"',
             'set ylabel "efficiency"', "set yrange [0:1.1]", 'set format x "%.0f"',
             'set multiplot layout 2,3 title "METG sweep: efficiency vs task granularity '
             '(%d cores, width %d)"' % (rep.args.cores, rep.args.width)]
    style = {s: "with linespoints lt %d lw 1.5" % lt[s] for s in rep.systems}
    style["serial"] = 'with linespoints dt 3 lc "gray50" pt 7 ps 0.5'
    half = 'with lines dt 2 lw 1.5 lc "black"'
    for p in rep.patterns:
        plots = ['"%s" using 1:2 %s' % (files[(p, s)], style[s])
                 for s in rep.systems if (p, s) in files]
        plots.append("0.5 " + half)
        lines += ['set title "%s"' % p, "plot " + ", ".join(plots)]
    legend = ['NaN %s title "%s"' % (style[s], s) for s in rep.systems if s not in rep.na]
    legend.append('NaN %s title "50%% efficiency"' % half)
    lines += ["unset title", "unset border", "unset tics", "unset grid", "unset xlabel",
              "unset ylabel", "unset logscale x", "set xrange [0:1]", "set yrange [0:1]",
              "set key center center box spacing 1.5 font \",14\"",
              "plot " + ", ".join(legend), "unset multiplot"]
    return "\n".join(lines) + "\n"


def plot(rep, datadir, svg):
    if not shutil.which("gnuplot"):
        print("metg: gnuplot not found (apt-get install gnuplot-nox): no %s" % svg,
              file=sys.stderr)
        return
    files = write_data(rep, datadir)
    script = os.path.join(datadir, "metg.gp")
    with open(script, "w") as f:
        f.write(gnuplot_script(rep, files, svg))
    subprocess.run(["gnuplot", script], check=True)


def report(args):
    points, results, failures = read_raw(args.raw)
    systems = args.systems.split()
    failures += check_checksums(points, results, [s for s in systems if s != "serial"])
    rep = Report(args, points, results, failures)
    with open(args.md, "w") as f:
        f.write(rep.markdown())
    plot(rep, args.data, args.svg)
    for p in rep.patterns:
        print(rep.summary(p))
    for f in failures:
        print("FAILED: %s %s at %s: %s" % (f["system"], f["pattern"], f.get("label"),
                                           f.get("reason", "")))
    return 1 if failures or not rep.patterns else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--mode", choices=PLAN, required=True)
    p.add_argument("--ns-per-iter", type=float, required=True)
    p.add_argument("--width", type=int, required=True)
    r = sub.add_parser("report")
    for opt in ("--raw", "--md", "--svg", "--data", "--systems"):
        r.add_argument(opt, required=True)
    r.add_argument("--cores", type=int, required=True)
    r.add_argument("--width", type=int, required=True)
    r.add_argument("--mode", choices=PLAN, default="full")
    r.add_argument("--na", action="append", default=[])
    r.add_argument("--info", action="append", default=[])
    args = ap.parse_args()
    if args.cmd == "plan":
        plan(args)
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
