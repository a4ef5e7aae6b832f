"""Where the hot path's CPU goes: py-spy on the proxy workers under load, CPU per process.

    .venv/bin/python -m bench.profile [--seconds 15] [--concurrency 8] [--workers 1] [--out bench/out/profile]

Brings up the same levels as bench.run, then for L1 and L2 in turn drives closed-loop load while
py-spy samples every proxy worker (on-CPU samples only), and reads the CPU time every process of
the machine spent meanwhile (nginx, Redis, the shipper, Django, PostgreSQL, the load generator).
Prints, per level: requests/s, CPU ms per request by process, and the functions with the most
own and inclusive samples; writes the collapsed stacks (``*.txt``, for flame graph tools).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
from pathlib import Path

from bench.run import CHAT, load, say
from bench.stacks import Bench
from stack.stack import ROOT

TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_process() -> dict[str, float]:
    """CPU seconds so far of every process, keyed by 'pid name'."""
    times: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        times[f"{entry.name} {cmdline[:90] or stat.split('(')[1].split(')')[0]}"] = (
            int(fields[11]) + int(fields[12])
        ) / TICK
    return times


def summarize(stacks: Path, top: int) -> list[str]:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()  # frames of this repository's code
    total = 0
    for line in stacks.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames:
            continue
        n = int(count)
        total += n
        names = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in frames.split(";")]
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
        for frame in {f.rsplit(":", 1)[0] + ")" for f in frames.split(";") if "inference/proxy/" in f}:
            ours[frame] += n
    lines = [f"  {total} samples; own:"]
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(top * 2)]
    lines.append("  inclusive, our code:")
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in ours.most_common(top)]
    return lines


def profile(bench: Bench, level: str, url: str, key: str, seconds: float, concurrency: int, out: Path) -> None:
    pids = bench.worker_pids(level)
    spies = [
        subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--pid", str(pid), "--duration", str(int(seconds)),
             "--rate", "250", "--format", "raw", "--nonblocking", "--output", str(out / f"{level}-{pid}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]  # fmt: skip
    before = cpu_by_process()
    result = load(url, key, CHAT, concurrency, seconds=seconds - 1)
    after = cpu_by_process()
    for spy in spies:
        spy.wait()
    requests = len(result["latencies_ms"])
    print(f"\n== {level}: {result['rps']:.1f} req/s at c={concurrency}, {requests} requests, errors {result['errors']}")
    used = sorted(((after[k] - before.get(k, 0.0), k) for k in after), reverse=True)
    print("  CPU ms per request, by process:")
    for seconds_used, name in used[:12]:
        if seconds_used > 0:
            print(f"    {1000 * seconds_used / requests:6.2f}  {name}")
    for pid in pids:
        path = out / f"{level}-{pid}.txt"
        if path.exists():
            print(f"  worker {pid}:")
            print("\n".join(summarize(path, 25)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "profile"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(out / "state", workers=args.workers, smollm2=False)
    say("starting the levels")
    try:
        bench.up()
        for url, key in ((bench.l1, bench.l1_key), (bench.l2, bench.key)):
            load(url, key, CHAT, args.concurrency, requests=300)  # warm-up
        for level, url, key in (("L1", bench.l1, bench.l1_key), ("L2", bench.l2, bench.key)):
            profile(bench, level, url, key, args.seconds, args.concurrency, out)
    finally:
        bench.down()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
