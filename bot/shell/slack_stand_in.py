"""A stand-in for Slack's side of the conversation: the Web API and response_urls, answered on loopback.

The bot under the shell is the production bot, configured with this server as SLACK_API_URL; every call it makes
(chat.postMessage, chat.postEphemeral, chat.update, chat.unfurl, views.open / views.update, users.info, posts to a
response_url) is answered as Slack would and recorded as something the person sees, in order.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

TEAM_ID = "T0DEMO"
BOT_USER = "U0BOT"
SCOPES = "commands,chat:write,chat:write.public,im:write,users:read,usergroups:read,links:read,links:write"


@dataclass
class Seen:
    """One thing the person sees: a message (new or updated), a private reply, a DM, a modal, or a removal."""

    kind: str  # "message", "ephemeral", "dm", "updated", "removed", "modal", "preview"
    body: dict[str, Any]
    ref: str  # what a click on it answers to: a message ts, a response_url key, or a view id


@dataclass
class SlackStandIn:
    user: str
    channel: str
    timezone: str
    seen: list[Seen] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts → message
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]  # port 0 above: the one the system gave
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def new_response_url(self, ref: str = "") -> str:
        """A response_url; posts to it that replace or delete the original act on the message `ref`."""
        return f"{self.url}/response/{ref or 'none'}-{next(self._ids)}"

    def new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ids):06d}"

    # ---------------------------------------------------------------------------------------------- handlers

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _args(request)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = handler(args)
        headers = {"x-oauth-scopes": SCOPES} if method == "auth.test" else None
        return web.json_response({"ok": True, **result}, headers=headers)

    async def _response(self, request: web.Request) -> web.Response:
        ref = request.match_info["key"].rsplit("-", 1)[0]
        body = await request.json()
        if body.get("delete_original"):
            self.seen.append(Seen("removed", {}, ref))
        elif body.get("replace_original"):
            if ref in self.messages:
                self.messages[ref].update({k: v for k, v in body.items() if k in ("text", "blocks")})
            self.seen.append(Seen("updated", body, ref))
        elif body.get("response_type") == "in_channel":
            ts = self.new_ts()
            self.messages[ts] = {"ts": ts, **body}
            self.seen.append(Seen("message", body, ts))
        else:
            self.seen.append(Seen("ephemeral", body, self.new_ts()))  # a private message has a ts of its own
        return web.Response(text="ok")

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://demo.slack.invalid/",
            "team": "Demo",
            "user": "reschedule-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": "B0BOT",
        }

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        ts = self.new_ts()
        message = {"ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks") or []}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages[ts] = message
        is_dm = channel.startswith(("U", "W", "D"))
        self.seen.append(Seen("dm" if is_dm else "message", message, ts))
        return {"channel": "D" + channel if channel.startswith(("U", "W")) else channel, "ts": ts, "message": message}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        body = {"text": args.get("text", ""), "blocks": args.get("blocks") or []}
        self.seen.append(Seen("ephemeral", body, self.new_ts()))
        return {"message_ts": self.new_ts()}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("ts", ""))
        body = {"text": args.get("text", ""), "blocks": args.get("blocks") or []}
        self.messages.setdefault(ts, {"ts": ts}).update(body)
        self.seen.append(Seen("updated", body, ts))
        return {"channel": args.get("channel"), "ts": ts}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("message_ts", "")).replace(".", "")
        return {"permalink": f"https://demo.slack.invalid/archives/{args.get('channel')}/p{ts}"}

    def _chat_unfurl(self, args: dict[str, Any]) -> dict[str, Any]:
        """A card under each link of a posted message; drawn again on the same message and link, it replaces the
        one shown (its buttons with it)."""
        unfurls = args.get("unfurls") or {}
        for url, card in unfurls.items() if isinstance(unfurls, dict) else ():
            ref = preview_ref(str(args.get("ts", "")), str(url))
            kind = "updated" if ref in self.messages else "preview"
            body = {"text": "", "blocks": (card or {}).get("blocks") or [], "url": url}
            self.messages[ref] = body
            self.seen.append(Seen(kind, body, ref))
        return {}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": "D" + str(args.get("users", "")).split(",")[0]}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": {"id": args.get("user"), "tz": self.timezone}}

    def _usergroups_users_list(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"users": [self.user]}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = f"V{next(self._ids):08d}"
        return self._show_view(view_id, args.get("view") or {})

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._show_view(str(args.get("view_id", "")), args.get("view") or {})

    def _show_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        stored = {**view, "id": view_id}
        self.views[view_id] = stored
        self.seen.append(Seen("modal", stored, view_id))
        return {"view": stored}


def preview_ref(ts: str, url: str) -> str:
    """What a click on the preview of `url`, under the message `ts`, answers to."""
    return f"preview {ts} {url}"


def previewed(ref: str) -> tuple[str, str] | None:
    """The message ts and the link of a preview's `ref`, or None for anything else."""
    kind, _, rest = ref.partition(" ")
    ts, _, url = rest.partition(" ")
    return (ts, url) if kind == "preview" and ts and url else None


async def _args(request: web.Request) -> dict[str, Any]:
    """A Web API call's arguments, whether sent as JSON, a form or a query string (JSON strings decoded)."""
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        raw = await request.text()
        if request.content_type == "application/json":
            args.update(json.loads(raw or "{}"))
        else:
            args.update(dict(parse_qsl(raw)))
    for key in ("blocks", "view", "attachments", "unfurls"):
        if isinstance(args.get(key), str) and args[key][:1] in "[{":
            args[key] = json.loads(args[key])
    return args
