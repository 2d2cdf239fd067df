"""`python -m bot serve` with a pyinstrument profiler that the benchmark switches on and off by signal.

    PYTHONPATH=<repo> python -m bench.profiled_bot <report.txt> serve --host 127.0.0.1 --port 3000

SIGUSR1 starts sampling the main thread (the event loop: every coroutine, Bolt, uvicorn, the bot); SIGUSR2 stops
it and writes the text report to <report.txt>. Start-up and import time are thus left out: only what runs
between the two signals is profiled. Sampling costs CPU, so a profiled burst is slower than a measured one.
"""

from __future__ import annotations

import signal
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.session import Session

from bot.__main__ import main as bot_main

INTERVAL = 0.001  # seconds between samples
FILTER_THRESHOLD = 0.004  # hide call-tree nodes under 0.4 % of the profiled time (keeps the report short)
FLAT_LINES = 40  # functions listed by their own time
TOP_BOT_FUNCTIONS = 30
BOT_DIR = str(Path(__file__).resolve().parents[1] / "bot") + "/"
STDLIB = sysconfig.get_paths()["stdlib"] + "/"
SITE = "site-packages/"


def package_of(path: str) -> str | None:
    """`bot/slack/dm.py` for the bot's modules, else the top-level package (`httpx`, `logging`, `asyncio`)."""
    if path.startswith(BOT_DIR):
        return "bot/" + path.removeprefix(BOT_DIR)
    if SITE in path:
        return path.split(SITE, 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(STDLIB):
        return path.removeprefix(STDLIB).split("/", 1)[0].removesuffix(".py")
    return None


def is_idle(frame: Frame) -> bool:
    """The event loop waiting for I/O: selectors' select() and everything under it (epoll)."""
    return frame.function.endswith("select") and (frame.file_path or "").endswith("selectors.py")


def inclusive_times(root: Frame, key_of: Callable[[Frame], str | None]) -> tuple[dict[str, float], float]:
    """Busy time under each key (idle subtrees left out), counting a stack once however often the key repeats in
    it; and the total busy time. Each frame's own time is added to every key on its stack."""
    totals: dict[str, float] = defaultdict(float)
    busy = 0.0
    stack: list[tuple[Frame, frozenset[str]]] = [(root, frozenset())]
    while stack:
        frame, inside = stack.pop()
        if is_idle(frame):
            continue
        key = key_of(frame)
        if key is not None:
            inside = inside | {key}
        own = max(0.0, frame.time - sum(child.time for child in frame.children))
        busy += own
        for name in inside:
            totals[name] += own
        stack.extend((child, inside) for child in frame.children)
    return totals, busy


def summary_text(session: Session) -> str:
    """Shares of the busy (non-idle) time: per package or bot module, and the bot's functions."""
    root = session.root_frame()
    if root is None:
        return ""
    packages, busy = inclusive_times(root, lambda f: package_of(f.file_path or ""))
    busy = max(busy, 1e-9)
    lines = [
        f"Busy time (all samples minus the event loop waiting in select/epoll): {busy:.3f} s of {root.time:.3f} s.",
        "",
        "Time under each package or bot module, as a share of busy time (a call counts under every package on its",
        "stack, once each, so the shares overlap and do not add up to 100 %):",
        "",
    ]
    rows = sorted(((t, k) for k, t in packages.items() if t / busy >= 0.01), reverse=True)
    lines += [f"{100 * t / busy:5.1f} %  {k}" for t, k in rows]

    def bot_function(frame: Frame) -> str | None:
        path = frame.file_path or ""
        if not path.startswith(BOT_DIR):
            return None
        return f"{frame.function}  bot/{path.removeprefix(BOT_DIR)}:{frame.line_no}"

    functions, _ = inclusive_times(root, bot_function)
    title = f"The bot's functions by total time (callees included), share of busy time, top {TOP_BOT_FUNCTIONS}:"
    lines += ["", title, ""]
    top = sorted(((t, k) for k, t in functions.items()), reverse=True)[:TOP_BOT_FUNCTIONS]
    lines += [f"{100 * t / busy:5.1f} %  {k}" for t, k in top]
    return "\n".join(lines) + "\n"


def report_text(profiler: Profiler) -> str:
    """The call tree (library frames folded, small nodes hidden) and then the functions with the most self time."""
    session = profiler.last_session
    if session is None:
        return "no samples\n"
    tree = ConsoleRenderer(
        unicode=True,
        color=False,
        show_all=False,
        time="percent_of_total",
        processor_options={"filter_threshold": FILTER_THRESHOLD, "hide_regex": None},
    ).render(session)
    flat = ConsoleRenderer(unicode=True, color=False, flat=True, time="percent_of_total").render(session)
    flat_lines = flat.splitlines()
    # The flat renderer repeats the header; keep its body's first lines.
    body_start = next((i for i, line in enumerate(flat_lines) if "%" in line), 0)
    top_flat = "\n".join(flat_lines[body_start : body_start + FLAT_LINES])
    return (
        f"{summary_text(session)}\n\nCall tree (share of all samples, idle included):\n{tree}\n\n"
        f"Functions by own time (share of all samples):\n\n{top_flat}\n"
    )


def main(argv: list[str]) -> int:
    output = Path(argv[0])
    profiler = Profiler(interval=INTERVAL, async_mode="disabled")

    def start(signum: int, frame: FrameType | None) -> None:
        if not profiler.is_running:
            profiler.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        if profiler.is_running:
            profiler.stop()
            partial = output.with_name(output.name + ".partial")
            partial.write_text(report_text(profiler))
            partial.replace(output)  # the benchmark waits for `output` to appear

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return bot_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
