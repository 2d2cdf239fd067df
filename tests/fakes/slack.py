"""A fake Slack Web API plus `response_url` receiver, after Slack's Web API and response_url behaviour.

Web API methods live under `/api/<method>` and accept JSON or form bodies (slack_sdk sends both). Errors are
HTTP 200 `{"ok": false, "error": ...}`, except rate limits: HTTP 429 with `Retry-After`.

Workflow Builder steps: `new_execution()` issues a function execution and its short-lived token, as Slack puts them
in a `function_executed` event. functions.completeSuccess / functions.completeError take only that execution's token
and end a running execution once (`execution_not_in_running_state` after); that token is refused for every other
method. Every call's token is recorded (`tokens_used`), so a test can prove which token went where.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes._server import FakeServer, RecordedRequest, Reply, Rule, json_reply, text_reply

AUTH_TEST = {
    "ok": True,
    "url": "https://example.slack.com/",
    "team": "T",
    "user": "bot",
    "team_id": "T111",
    "user_id": "U0BOT",
    "bot_id": "B0BOT",
}
SCOPES = "chat:write,commands,im:write,users:read,usergroups:read,links:read,links:write"

Args = dict[str, Any]


class SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _rand(n: int) -> str:
    return secrets.token_hex(n).upper()[:n]


class FakeSlack(FakeServer):
    """`scopes`: the `x-oauth-scopes` header auth.test answers with (comma separated; default SCOPES).
    `app_token`: the App-Level Token apps.connections.open accepts (None: it rejects every token, invalid_auth).
    """

    def __init__(self, bot_token: str) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.scopes = SCOPES
        self.app_token: str | None = None
        # Where apps.connections.open points Socket Mode clients (tests/fakes/socket_mode.py sets its own URL).
        self.socket_url = "wss://wss.slack.test/link/"
        self.issued_socket_urls: list[str] = []
        self._calls: list[tuple[str, Args]] = []
        self._response_urls: dict[str, list[Any]] = {}
        self._forbidden: dict[str, str] = {}
        self._expired: set[str] = set()
        self._spent: set[str] = set()  # response_url keys used up
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._usergroup_handles: dict[str, str] = {}
        self._rate_limits: list[Rule] = []
        self._failures: list[Rule] = []
        self._ts = itertools.count(1)
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.unfurls: list[Args] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}  # user id → the Home view last published for them
        self._executions: dict[str, str] = {}  # function execution id → its token
        self.completions: list[Args] = []  # functions.complete* calls that ended an execution, with their token
        self._call_tokens: list[tuple[str, str]] = []  # (method, bearer token) of every Web API call
        self._methods: dict[str, Callable[[Args], Args]] = {
            "auth.test": lambda args: dict(AUTH_TEST),
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "chat.unfurl": self._unfurl,
            "conversations.open": self._open_conversation,
            "users.info": self._user_info,
            "usergroups.users.list": self._usergroup_users,
            "usergroups.list": self._usergroup_list,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    # setup -----------------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        tz: str = "Europe/Paris",
        tz_offset: int = 3600,
        tz_label: str = "Central European Time",
        name: str | None = None,
    ) -> None:
        name = name or user_id.lower()
        self._users[user_id] = {
            "id": user_id,
            "team_id": "T111",
            "name": name,
            "real_name": name,
            "deleted": False,
            "is_bot": False,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": {"real_name": name, "display_name": name},
        }

    def add_usergroup(self, group_id: str, users: list[str], handle: str | None = None) -> None:
        self._usergroups[group_id] = list(users)
        self._usergroup_handles[group_id] = handle or group_id.lower()

    def forbid_channel(self, channel_id: str, error: str = "not_in_channel") -> None:
        """chat.postMessage / chat.postEphemeral to this channel fail with `error`."""
        self._forbidden[channel_id] = error

    def delete_message(self, channel: str, ts: str) -> None:
        """Someone deleted the message: chat.update on it answers `message_not_found` from now on."""
        with self._lock:
            self.messages[channel] = [m for m in self.messages.get(channel, []) if m["ts"] != ts]

    def expire_trigger(self, trigger_id: str) -> None:
        """views.open / views.push with this trigger_id answer `expired_trigger_id`."""
        self._expired.add(trigger_id)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._rate_limits.append(Rule("*", f"^/api/{method}$", times, retry_after))

    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        with self._lock:
            self._failures.append(Rule("*", f"^/api/{method}$", times, error))

    def spend_response_url(self, url: str) -> None:
        """The response_url is used up (Slack takes a handful of posts per response_url, for 30 minutes): from now
        on a post to it is answered 404 `used_url`, and not recorded."""
        with self._lock:
            self._spent.add(url.rstrip("/").rsplit("/", 1)[-1])

    def new_execution(self) -> tuple[str, str]:
        """A running function execution: (function_execution_id, its bot_access_token)."""
        execution_id, token = "Fx" + _rand(10), f"xwfp-{_rand(12)}-{_rand(12)}-{secrets.token_hex(16)}"
        with self._lock:
            self._executions[execution_id] = token
        return execution_id, token

    def new_response_url(self) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._response_urls[key] = []
        return f"{self.url}/response/{key}"

    # inspection ------------------------------------------------------------------------------------------

    def api_calls(self, method: str) -> list[Args]:
        """The parsed arguments of every call to `method` (including failed ones), in order."""
        with self._lock:
            return [dict(args) for name, args in self._calls if name == method]

    def tokens_used(self) -> list[tuple[str, str]]:
        """(method, bearer token) of every Web API call, in order."""
        with self._lock:
            return list(self._call_tokens)

    def completions_of(self, execution_id: str) -> list[Args]:
        """The functions.complete* calls that ended this execution (one at most), each with its method and token."""
        with self._lock:
            return [dict(done) for done in self.completions if done["function_execution_id"] == execution_id]

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """The messages the bot posted in `channel` (chat.postMessage), as they are now (chat.update edits them)."""
        with self._lock:
            return [json.loads(json.dumps(message)) for message in self.messages.get(channel, [])]

    def responses(self, url: str) -> list[Any]:
        """The JSON bodies POSTed to a `response_url` from new_response_url()."""
        key = url.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            return list(self._response_urls.get(key, []))

    def describe(self) -> str:
        with self._lock:
            calls = [f"  {name} {json.dumps(args, default=str)[:400]}" for name, args in self._calls]
            posts = [
                f"  response_url {key}: {json.dumps(bodies)[:400]}"
                for key, bodies in self._response_urls.items()
                if bodies
            ]
        return "\n".join(calls + posts) or "  (no Slack calls)"

    # handling --------------------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply | None:
        if request.path.startswith("/response/"):
            return self._response_url(request)
        if not request.path.startswith("/api/"):
            return text_reply(404, "not_found")
        method = request.path.removeprefix("/api/")
        args = _parse_args(request)
        with self._lock:
            self._calls.append((method, args))
        if method == "apps.connections.open":  # called with the App-Level Token, never the bot token
            if self.app_token is None or request.headers.get("authorization") != f"Bearer {self.app_token}":
                return json_reply(200, {"ok": False, "error": "invalid_auth"})
            url = f"{self.socket_url}?ticket={uuid.uuid4()}"
            with self._lock:
                self.issued_socket_urls.append(url)
            return json_reply(200, {"ok": True, "url": url})
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ")
        with self._lock:
            self._call_tokens.append((method, token))
        if method.startswith("functions.complete"):
            return self._complete(method, args, token)
        if token != self.bot_token:
            return json_reply(200, {"ok": False, "error": "invalid_auth"})
        limited = self.take(self._rate_limits, request)
        if limited is not None:
            return json_reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limited.payload)})
        failure = self.take(self._failures, request)
        if failure is not None:
            return json_reply(200, {"ok": False, "error": failure.payload})
        handler = self._methods.get(method)
        if handler is None:
            return json_reply(200, {"ok": False, "error": "unknown_method"})
        try:
            with self._lock:
                result = handler(args)
        except SlackError as exc:
            return json_reply(200, {"ok": False, "error": exc.error})
        headers = {"x-oauth-scopes": self.scopes} if method == "auth.test" else None
        return json_reply(200, result, headers)

    def _complete(self, method: str, args: Args, token: str) -> Reply:
        """functions.completeSuccess (`outputs`, an object or its JSON) / functions.completeError (`error`)."""
        execution_id = str(args.get("function_execution_id") or "")
        with self._lock:
            if execution_id not in self._executions:
                return json_reply(200, {"ok": False, "error": "function_execution_not_found"})
            if token != self._executions[execution_id]:
                return json_reply(200, {"ok": False, "error": "invalid_auth"})
            if any(done["function_execution_id"] == execution_id for done in self.completions):
                return json_reply(200, {"ok": False, "error": "execution_not_in_running_state"})
            done: Args = {"method": method, "function_execution_id": execution_id, "token": token}
            if method == "functions.completeSuccess":
                outputs = args.get("outputs")
                try:
                    done["outputs"] = _loads(outputs) if isinstance(outputs, str) else outputs
                except SlackError:
                    return json_reply(200, {"ok": False, "error": "invalid_arguments"})
                if not isinstance(done["outputs"], dict):
                    return json_reply(200, {"ok": False, "error": "invalid_arguments"})
            elif method == "functions.completeError":
                if not isinstance(args.get("error"), str) or not args["error"]:
                    return json_reply(200, {"ok": False, "error": "invalid_arguments"})
                done["error"] = args["error"]
            else:
                return json_reply(200, {"ok": False, "error": "unknown_method"})
            self.completions.append(done)
        return json_reply(200, {"ok": True})

    def _response_url(self, request: RecordedRequest) -> Reply:
        key = request.path.removeprefix("/response/")
        with self._lock:
            if key in self._spent:
                return text_reply(404, "used_url")
            if key not in self._response_urls:
                return text_reply(404, "not_found")
            if request.method != "POST" or not isinstance(request.json, dict):
                return text_reply(400, "invalid_payload")
            self._response_urls[key].append(request.json)
        return text_reply(200, "ok")

    # Web API methods (called with the lock held) ---------------------------------------------------------

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _channel(self, args: Args) -> str:
        channel = str(args.get("channel") or "")
        if not channel:
            raise SlackError("channel_not_found")
        if channel in self._forbidden:
            raise SlackError(self._forbidden[channel])
        return "D" + channel if channel.startswith(("U", "W")) else channel  # posting to a user → the DM

    def _post_message(self, args: Args) -> Args:
        channel = self._channel(args)
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise SlackError("no_text")
        message = {
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "app_id": "A111",
            "ts": self._new_ts(),
            **_message_fields(args),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _update(self, args: Args) -> Args:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                message.update(_message_fields(args))
                message["edited"] = {"user": "U0BOT", "ts": self._new_ts()}
                return {"ok": True, "channel": channel, "ts": ts, "text": message.get("text", ""), "message": message}
        raise SlackError("message_not_found" if channel else "channel_not_found")

    def _post_ephemeral(self, args: Args) -> Args:
        channel = self._channel(args)
        if not args.get("user"):
            raise SlackError("user_not_in_channel")
        ts = self._new_ts()
        self.ephemerals.append({"channel": channel, "user": args["user"], "ts": ts, **_message_fields(args)})
        return {"ok": True, "message_ts": ts}

    def _permalink(self, args: Args) -> Args:
        channel, ts = str(args.get("channel") or ""), str(args.get("message_ts") or "")
        if not channel or not ts:
            raise SlackError("invalid_arguments")
        link = f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _unfurl(self, args: Args) -> Args:
        """chat.unfurl as Slack documents it: (channel, ts) or (unfurl_id, source),
        and `unfurls` keyed by URL (JSON, or a JSON string in a form body). Recorded with `unfurls` parsed."""
        by_message = bool(args.get("channel")) and bool(args.get("ts"))
        by_unfurl_id = bool(args.get("unfurl_id")) and bool(args.get("source"))
        if not (by_message or by_unfurl_id):
            raise SlackError("invalid_arguments")
        unfurls = args.get("unfurls")
        if isinstance(unfurls, str):
            unfurls = _loads(unfurls)
        if not isinstance(unfurls, dict) or not unfurls:
            raise SlackError("invalid_unfurls")
        self.unfurls.append({**args, "unfurls": unfurls})
        return {"ok": True}

    def _open_conversation(self, args: Args) -> Args:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        return {"ok": True, "channel": {"id": "D" + users[0]}}

    def _user_info(self, args: Args) -> Args:
        user = self._users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": json.loads(json.dumps(user))}

    def _usergroup_list(self, args: Args) -> Args:
        groups = [{"id": gid, "handle": self._usergroup_handles[gid], "name": gid} for gid in self._usergroups]
        return {"ok": True, "usergroups": groups}

    def _usergroup_users(self, args: Args) -> Args:
        group = str(args.get("usergroup") or "")
        if group not in self._usergroups:
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[group])}

    def _check_trigger(self, args: Args) -> None:
        trigger_id = args.get("trigger_id")
        if not trigger_id:
            raise SlackError("invalid_arguments")
        if trigger_id in self._expired:
            raise SlackError("expired_trigger_id")

    def _store_view(self, view: Any, view_id: str, root: str | None, previous: str | None) -> Args:
        if isinstance(view, str):
            view = _loads(view)
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        stored = {
            "id": view_id,
            "team_id": "T111",
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **view,
            "hash": f"{int(time.time())}.{_rand(8)}",
            "root_view_id": root or view_id,
            "previous_view_id": previous,
            "app_id": "A111",
            "bot_id": "B0BOT",
        }
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def _views_open(self, args: Args) -> Args:
        self._check_trigger(args)
        return self._store_view(args.get("view"), "V" + _rand(10), None, None)

    def _views_update(self, args: Args) -> Args:
        view_id = str(args.get("view_id") or "")
        if not view_id and args.get("external_id"):
            view_id = next((v["id"] for v in self.views.values() if v.get("external_id") == args["external_id"]), "")
        current = self.views.get(view_id)
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        return self._store_view(args.get("view"), view_id, current["root_view_id"], current["previous_view_id"])

    def _views_publish(self, args: Args) -> Args:
        """One Home view per user, replaced whole by each publish; at most 100 blocks (Block Kit's Home limit)."""
        user_id = str(args.get("user_id") or "")
        view = _loads(args["view"]) if isinstance(args.get("view"), str) else args.get("view")
        if not user_id or not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            raise SlackError("invalid_blocks")
        view_id = self.homes[user_id]["id"] if user_id in self.homes else "V" + _rand(10)
        stored = {
            "id": view_id,
            "team_id": "T111",
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **view,
            "hash": f"{int(time.time())}.{_rand(8)}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": "A111",
            "bot_id": "B0BOT",
        }
        self.homes[user_id] = stored  # kept apart from `views` (the modals)
        return {"ok": True, "view": stored}


def _message_fields(args: Args) -> Args:
    fields: Args = {}
    for name in ("text", "blocks", "attachments", "metadata"):
        if name in args:
            value = args[name]
            fields[name] = _loads(value) if name != "text" and isinstance(value, str) else value
    return fields


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise SlackError("invalid_arguments") from None


def _parse_args(request: RecordedRequest) -> Args:
    """Query string, then a form or JSON body (JSON wins on conflicts)."""
    args: Args = dict(parse_qsl(request.query, keep_blank_values=True))
    if isinstance(request.json, dict):
        args.update(request.json)
    elif request.body:
        args.update(parse_qsl(request.text(), keep_blank_values=True))
    return args
