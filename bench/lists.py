"""Memory of the real bot (`python -m bot serve`) under a burst of concurrent `/reschedule list`, on 127.0.0.1.

Run from the repository root:

    .venv/bin/python -m bench.lists                  # 200 lists at once, 2 environments of 500 delayed runs each
    .venv/bin/python -m bench.lists --lists 50 --runs 100

The fake Slack and the fake Trigger.dev of tests/fakes run in this process (threads); the bot is its own process.
Every list is a signed slash command from its own user (so no per-person bound applies), all sent at once from
`--lists` threads. Each environment holds `--runs` DELAYED runs, so every list reads up to five pages of 100 runs
per environment. The bot's VmRSS is read from /proc every 20 ms from before the burst until every list has been
answered; the report gives VmRSS before, the highest VmRSS seen, VmHWM at the end, and how the lists were answered.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.run import proc_memory
from tests.e2e_harness import (
    BOT_TOKEN,
    PROD_ENV,
    PROD_KEY,
    SIGNING_SECRET,
    STAGING_KEY,
    BotProcess,
    SlackSender,
    bot_env,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.trigger import FakeTrigger

STAGING_ENV = "env_staging"
ANSWER_TIMEOUT = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lists", type=int, default=200, help="lists sent at once (default 200)")
    parser.add_argument("--runs", type=int, default=500, help="DELAYED runs in each environment (default 500)")
    args = parser.parse_args()
    with FakeSlack(BOT_TOKEN) as fake_slack, FakeTrigger() as fake_trigger, tempfile.TemporaryDirectory() as tmp:
        fake_trigger.keep_alive = fake_slack.keep_alive = True  # as the real services do: connections are reused
        fake_trigger.add_key(PROD_KEY, PROD_ENV)
        fake_trigger.add_key(STAGING_KEY, STAGING_ENV)
        for environment in (PROD_ENV, STAGING_ENV):
            for _ in range(args.runs):
                fake_trigger.add_run(environment)
        env = bot_env(fake_slack, fake_trigger, Path(tmp), TRIGGER_SECRET_KEYS=STAGING_KEY, TRIGGER_DEADLINE=None)
        with BotProcess(env, log_path=Path(tmp) / "bot.log") as bot:
            report(bot, fake_slack, args.lists)


def report(bot: BotProcess, fake_slack: FakeSlack, lists: int) -> None:
    sender = SlackSender(bot.events_url, SIGNING_SECRET)
    pid = bot.process.pid
    warm = fake_slack.new_response_url()
    sender.command("list", response_url=warm, user_id="U0WARM")  # imports and pools warmed before measuring
    fake_slack.wait_for(lambda: fake_slack.responses(warm) or None, timeout=60)
    before = proc_memory(pid)["VmRSS"]

    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc_memory(pid)["VmRSS"])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    urls = [fake_slack.new_response_url() for _ in range(lists)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=lists) as pool:
        acks = list(pool.map(lambda n: sender.command("list", response_url=urls[n], user_id=f"U{n:06d}"), range(lists)))
    fake_slack.wait_for(lambda: all(fake_slack.responses(url) for url in urls) or None, timeout=ANSWER_TIMEOUT)
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    end = proc_memory(pid)
    answers = [fake_slack.responses(url)[0] for url in urls]
    listed = sum(1 for answer in answers if "blocks" in answer and "delayed run" in json.dumps(answer["blocks"]))
    print(f"lists sent at once:       {lists} (acknowledged 200: {sum(a.status_code == 200 for a in acks)})")
    print(f"VmRSS before:             {before / 1024:.0f} MiB")
    print(f"VmRSS highest seen:       {peak[0] / 1024:.0f} MiB")
    print(f"VmHWM at the end:         {end['VmHWM'] / 1024:.0f} MiB")
    print(f"all answered after:       {elapsed:.1f} s")
    print(f"answered with a list:     {listed} of {lists}")
    others = {answer.get("text", "")[:100] for answer in answers if "blocks" not in answer}
    for text in sorted(others):
        print(f"  other answer:           {text}")


if __name__ == "__main__":
    main()
