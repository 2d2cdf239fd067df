"""The bot against itself at another commit: CPU per command under the benchmark's burst, old and new alternating.

    .venv/bin/python -m bench.compare <git ref> [--rounds 10] [--concurrency 25] [--server-python PATH]

The bare-Bolt comparison (`python -m bench.run`) moves by more than a tenth from one run to the next on a shared
machine, mostly with the baseline's own CPU, so it cannot tell whether a change to the bot saved 10 %. Here both
sides are the bot, each round runs the two in turn (which goes first alternates), and the medians are compared, and
the two sides of each round (their ratios' median and geometric mean): the working tree (uncommitted changes
included) against `<git ref>`, checked out in a temporary worktree. Bursts on this kind of shared machine vary by a
tenth or more from one to the next, so a change of a few per cent needs a few runs of 16 rounds to show.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import run
from tests.e2e_harness import REPO_ROOT


def checkout(ref: str, folder: Path) -> Path:
    """`ref` of this repository, checked out (detached) in `folder`."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), ref], cwd=REPO_ROOT, check=True, capture_output=True
    )
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", help="the commit to compare the working tree with, e.g. HEAD~1")
    parser.add_argument("--rounds", type=int, default=10, help="bursts per side (default %(default)d)")
    parser.add_argument("--concurrency", type=int, default=run.BURST_CONCURRENCY, help="connections (default 25)")
    parser.add_argument("--server-python", default=sys.executable, help="the interpreter the bot runs in")
    parser.add_argument("--no-pin", action="store_true", help="no core of its own for the bot (see bench.run.prepare)")
    args = parser.parse_args(argv)
    run.prepare(args.server_python, pin=not args.no_pin)
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch:
        old = checkout(args.ref, Path(scratch) / "old")
        try:
            sides = {"working tree": REPO_ROOT, args.ref: old}
            cpu: dict[str, list[float]] = {name: [] for name in sides}
            for number in range(max(1, args.rounds)):
                order = list(sides) if number % 2 == 0 else list(reversed(sides))
                for name in order:
                    outcome = run.burst(
                        "bot",
                        number,
                        Path(scratch) / f"{number}-{len(cpu[name])}",
                        root=sides[name],
                        concurrency=args.concurrency,
                    )
                    if outcome.failure or outcome.cpu_ms_per_command() is None:
                        print(f"{name}, round {number + 1}: {outcome.failure}", file=sys.stderr)
                        return 1
                    cpu[name].append(outcome.cpu_ms_per_command() or 0.0)
                    print(f"[compare] round {number + 1}, {name}: {cpu[name][-1]:.2f} ms", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO_ROOT, capture_output=True)
    new, base = (statistics.median(values) for values in cpu.values())
    print(
        f"Bot CPU per command, burst of {run.BURST} at concurrency {args.concurrency}, medians of {args.rounds} rounds:"
    )
    for name, values in cpu.items():
        print(f"  {name}: {statistics.median(values):.2f} ms ({', '.join(f'{v:.1f}' for v in values)})")
    print(f"  working tree / {args.ref}: {new / base:.2f}×")
    # The machine's speed drifts between bursts; the two sides of one round ran within seconds of each other, so
    # their ratio carries less of that drift than the medians do.
    paired = [mine / theirs for mine, theirs in zip(*cpu.values(), strict=True)]
    print(
        f"  within each round: {', '.join(f'{ratio:.2f}' for ratio in paired)} "
        f"(median {statistics.median(paired):.2f}×, geometric mean {statistics.geometric_mean(paired):.2f}×)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
