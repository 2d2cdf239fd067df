"""Link previews: a `link_shared` event for run links on the dashboard's host gets a `chat.unfurl` card.

Bolt acknowledges the event before this listener runs; the event_id is then claimed (`bot.slack.events`), so a
retried delivery, to this process or another sharing the database, previews nothing twice. At most
MAX_RUNS_PER_MESSAGE runs are looked up per message, all at once (each in every environment at once, through
`Rescheduler.find`); the links of one run share its card. A run no environment has, or a Trigger.dev that cannot be
reached, gives no preview for that link, and a line in the log: nothing is said in the channel.

Access: runs are looked for only in the environments the person who shared the link may act in from that channel
(`Rescheduler.reachable`): the others are not asked. A run found there gets its card with buttons (every click is
checked for its clicker anyway, on the buttons path); a run in none of them, when the access rule keeps the sharer
from other environments, gets the answer every surface gives (bot/render/access.py): that they cannot move runs
there and who can, without the run's details or buttons. A link still in the message composer is looked for where
the sharer may act from anywhere, and gets its card without buttons (there is no message to act from yet).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.environments import Environment
from bot.domain.run_refs import parse_run_ref
from bot.domain.runs import Run
from bot.render import access
from bot.render.unfurl import run_preview
from bot.rescheduler import Actor, FoundRun, NotFoundAnywhere, Reachable
from bot.slack import events
from bot.slack.actor import actor_of
from bot.slack.channel_post import Posted
from bot.slack.deps import SurfaceDeps
from bot.slack.replies import quietly, slack_error
from bot.trigger.client import Deadline
from bot.trigger.errors import TriggerError

log = logging.getLogger(__name__)

Block = dict[str, Any]
MAX_RUNS_PER_MESSAGE = 5
URL_IN_FORM_MAX = 1000  # a preview's URL longer than this is not carried in the form (private_metadata ≤ 3000)
COMPOSER = "composer"


class SharedLink(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str
    domain: str = ""


class LinkShared(BaseModel):
    """The fields of a `link_shared` event the preview uses, as in tests/data/slack/payloads/event_link_shared.json."""

    model_config = ConfigDict(extra="ignore")

    channel: str = ""
    user: str = ""
    message_ts: str = ""
    unfurl_id: str = ""
    source: str = ""
    links: list[SharedLink] = []

    @property
    def in_composer(self) -> bool:
        return self.source == COMPOSER or self.channel == "COMPOSER"


def register(app: AsyncApp, deps: SurfaceDeps) -> None:
    @app.event("link_shared")
    @deps.inflight.listener
    async def on_link_shared(
        body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest, client: AsyncWebClient
    ) -> None:
        if not await events.first_delivery(deps.replays, body, request.headers):
            return
        try:
            shared = LinkShared.model_validate(body.get("event"))
        except ValidationError as exc:
            log.warning("ignored a link_shared event of an unexpected shape (%d problems)", exc.error_count())
            return
        async with deps.inflight.work("link preview") as job:
            job.recorded = True  # a preview changes nothing: there is no outcome to record or to tell at shutdown
            try:
                # The workspace the sharer acts for, resolved as on every surface (an org-wide install: the org).
                workspace = actor_of(context, body, "unfurl", "").team_id
                await preview(shared, workspace, deps, client)
            except Exception as exc:  # never an error in the channel: the link simply gets no preview
                log.warning("link preview failed: %s", type(exc).__name__, exc_info=True)


def run_links(shared: LinkShared, dashboard_base: str) -> dict[str, str]:
    """URL → run id for the links to runs on the dashboard's host, in the order shared, keeping the links of the
    first MAX_RUNS_PER_MESSAGE runs (the links of any further run are left without a preview)."""
    host = (urlsplit(dashboard_base).hostname or "").lower()
    found: dict[str, str] = {}
    runs: set[str] = set()
    for link in shared.links:
        url_host = (_hostname(link.url) or "").lower()
        if not host or url_host != host:
            continue
        run_id = parse_run_ref(link.url)
        if run_id is None:
            continue
        if run_id not in runs and len(runs) >= MAX_RUNS_PER_MESSAGE:
            log.info("link preview: more than %d runs in one message; the rest are not previewed", len(runs))
            break
        runs.add(run_id)
        found[link.url] = run_id
    return found


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


async def preview(shared: LinkShared, team_id: str, deps: SurfaceDeps, client: AsyncWebClient) -> None:
    """Look the shared runs up, only in the environments the sharer may act in (from that channel), and call
    chat.unfurl once with a card for each link whose run was found, or the refusal every surface gives for a run
    that can only be where the sharer may not act."""
    links = run_links(shared, deps.dashboard_base)
    if not links:
        return
    run_ids = list(dict.fromkeys(links.values()))
    sharer = Actor(user_id=shared.user, team_id=team_id, channel_id=shared.channel or None, surface="unfurl")
    reach = await deps.rescheduler.reachable(sharer, anywhere=shared.in_composer)
    deadline = deps.rescheduler.deadline()
    sharer_mention = f"<@{shared.user}>" if shared.user else None
    found = await asyncio.gather(*(_find(deps, reach, run_id, deadline, sharer_mention) for run_id in run_ids))
    by_run = {run_id: _card(located, shared, deps) for run_id, located in zip(run_ids, found, strict=True) if located}
    cards = {url: by_run[run_id] for url, run_id in links.items() if run_id in by_run}
    if not cards:
        return
    await _unfurl(client, shared, cards)


async def _find(
    deps: SurfaceDeps, reach: Reachable, run_id: str, deadline: Deadline, sharer: str | None
) -> FoundRun | str | None:
    """The run, or the refusal to show instead (it is in none of the environments the sharer may act in, and
    the others were not asked), or None: no preview."""
    try:
        return await deps.rescheduler.find_in(reach.targets, run_id, deadline)
    except NotFoundAnywhere as exc:
        if reach.refused and sharer:  # (an event naming nobody gets no preview, as before)
            return access.out_of_reach(reach.refused, run_id=run_id, searched=exc.searched, person=sharer)
        names = ", ".join(env.name for env in exc.searched)
        log.info("link preview: run %s is in none of %s; no preview", run_id, names)
    except TriggerError as exc:
        log.warning("link preview: could not read run %s (%s); no preview", run_id, type(exc).__name__)
    return None


def _card(located: FoundRun | str, shared: LinkShared, deps: SurfaceDeps) -> dict[str, Any]:
    """The run's card; buttons only for a DELAYED run in a posted message (the sharer may act there: the run was
    looked for only where they may)."""
    if isinstance(located, str):
        return access.out_of_reach_preview(located)
    run, env = located.run, located.env
    controls = deps.controls(env) if run.is_delayed and not shared.in_composer and shared.user else None
    return run_preview(run, env, deps.run_url(run.id), controls, demo=deps.demo)


async def _unfurl(client: AsyncWebClient, shared: LinkShared, cards: Mapping[str, dict[str, Any]]) -> None:
    """chat.unfurl by (channel, ts) for a posted message, by (unfurl_id, source) for one still being written."""
    unfurls = dict(cards)
    try:
        if not shared.in_composer and shared.channel and shared.message_ts:
            await client.chat_unfurl(channel=shared.channel, ts=shared.message_ts, unfurls=unfurls)
        elif shared.unfurl_id and shared.source:
            await client.chat_unfurl(unfurl_id=shared.unfurl_id, source=shared.source, unfurls=unfurls)
        else:
            log.warning("link preview: the event names neither a message nor an unfurl_id; no preview")
            return
    except Exception as exc:
        log.warning("chat.unfurl failed: %s", slack_error(exc))
        return
    log.info("link preview: %d link(s) previewed", len(cards))


# --- Clicks on a preview's buttons (the buttons path calls these) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewClick:
    """Where a clicked preview is: the message that holds it (someone else's: the bot cannot replace it), and the
    link it previews. A move from a preview is shown in that message's thread and the preview is drawn again."""

    channel: str
    ts: str
    url: str
    thread_ts: str | None = None


def clicked_preview(body: dict[str, Any]) -> PreviewClick | None:
    """The preview a block_actions click came from (Slack's container for an app unfurl), or None."""
    container = body.get("container")
    if not isinstance(container, dict) or container.get("is_app_unfurl") is not True:
        return None
    channel, ts, url = container.get("channel_id"), container.get("message_ts"), container.get("app_unfurl_url")
    if not (isinstance(channel, str) and channel and isinstance(ts, str) and ts and isinstance(url, str) and url):
        return None
    thread_ts = container.get("thread_ts")
    return PreviewClick(channel, ts, url, thread_ts if isinstance(thread_ts, str) and thread_ts else None)


async def redraw(client: AsyncWebClient, deps: SurfaceDeps, preview: PreviewClick, run: Run, env: Environment) -> bool:
    """Draw the clicked preview again from the run as it is now (chat.unfurl on the same message replaces it);
    True when Slack took it. The clicker has just acted here, so a DELAYED run keeps its buttons."""
    controls = deps.controls(env) if run.is_delayed else None
    card = run_preview(run, env, deps.run_url(run.id), controls, demo=deps.demo)
    done = await quietly(
        "redrawing a link preview",
        client.chat_unfurl(channel=preview.channel, ts=preview.ts, unfurls={preview.url: card}),
    )
    return done is not None


async def post_in_thread(client: AsyncWebClient, preview: PreviewClick, text: str, blocks: list[Block]) -> Posted:
    """Post a summary in the thread of the message holding the preview: where it went (its ts, so it can follow
    its run), or what went wrong."""
    try:
        response = await client.chat_postMessage(
            channel=preview.channel, thread_ts=preview.thread_ts or preview.ts, text=text, blocks=blocks
        )
    except Exception as exc:
        log.warning("could not post a summary under a link preview in %s: %s", preview.channel, slack_error(exc))
        return Posted(problem=slack_error(exc))
    ts = response.get("ts")
    return Posted(channel=preview.channel, ts=ts if isinstance(ts, str) else None)
