"""Find Trigger.dev run ids in what people paste and in Slack messages.

A run id is ``run_`` plus 20 to 30 ASCII letters or digits (legacy nanoid, cuid, base62 and run-ops
shapes). :func:`parse_run_ref` reads one reference typed into a form (a bare id or a dashboard URL);
:func:`find_run_ids` collects every id in a Slack message, such as a Trigger.dev "run failed" alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RUN_ID_RE", "dashboard_url", "find_run_ids", "parse_run_ref"]

# Like ``\brun_[A-Za-z0-9]{20,30}\b``, except that ids in Slack italics ("_run_…_") are found too: an
# underscore may touch either end, but only as a lone delimiter (so "job_run_…" and "run_…_v2" are not
# ids). ``RUN_ID_RE.fullmatch`` accepts exactly a bare id.
# ``[^\W_]`` is a word character other than "_" (any letter or digit, as ``\b`` sees them).
RUN_ID_RE = re.compile(r"(?<![^\W_])(?<![^\W_]_)run_[A-Za-z0-9]{20,30}(?![^\W_])(?!_[^\W_])")

# The dashboard paths of a run: canonical ("/orgs/{org}/projects/{project}/env/{env}/runs/{id}"),
# without env, project-ref redirect ("/projects/v3/{ref}/runs/{id}") and short ("/runs/{id}"), each of them
# also under any path prefix, as a self-hosted dashboard served at "https://host/trigger" links them. All of
# them end in "/runs/{id}" (an optional trailing "/"), so that ending, after any non-empty segments, is what is
# matched; the run path must end the URL's path ("/runs/{id}/logs" is not a run link).
_RUN_PATH_RE = re.compile(r"(?P<prefix>(?:/[^/]+)*?)/runs/(?P<run_id>run_[A-Za-z0-9]{20,30})/?")
# How Slack delivers a link in message text: "<url|label>" or "<url>".
_SLACK_LINK_RE = re.compile(r"^<(?P<url>[^<>|]+)(?:\|[^<>]*)?>$")
# "host/..." typed without a scheme, where host looks like a host name ("x.y", "x:port", localhost).
_SCHEMELESS_HOST_RE = re.compile(r"^(?:localhost|[^/\s]*[.:][^/\s]*)(?:/|$)", re.IGNORECASE)

# Top-level message fields searched by find_run_ids, in this order.
_MESSAGE_FIELDS = ("text", "blocks", "attachments")


def parse_run_ref(text: str) -> str | None:
    """Read a run reference typed or pasted by a person.

    Accepts a bare run id or a run's dashboard URL on any host (``/orgs/…/env/…/runs/{id}``,
    ``/orgs/…/projects/…/runs/{id}``, ``/projects/v3/{ref}/runs/{id}``, ``/runs/{id}``), under any
    path prefix (a dashboard served at ``https://host/trigger`` links ``https://host/trigger/runs/{id}``),
    with or without query or fragment, optionally wrapped as Slack delivers links (``<url|label>``,
    ``<url>``) or in backticks. A URL without a scheme is read as https when it starts with a host name.
    A path that names another run before the last (``…/runs/{id}/…/runs/{id2}``) is not one reference.

    Args:
        text: What the person typed.

    Returns:
        The run id, or None if the text is not a reference to one run.
    """
    candidate = text.strip()
    if len(candidate) >= 2 and candidate[0] == candidate[-1] == "`":
        candidate = candidate[1:-1].strip()
    link = _SLACK_LINK_RE.match(candidate)
    if link is not None:
        candidate = link["url"].strip()
    if RUN_ID_RE.fullmatch(candidate):
        return candidate
    return _run_id_from_url(candidate)


def find_run_ids(message: Mapping[str, Any]) -> list[str]:
    """Every run id in a Slack message, de-duplicated, in first-seen order.

    Searches ``text``, then every string anywhere inside ``blocks`` (section text and fields, context
    elements, rich text and link URLs, button URLs and values, ...), then every string anywhere inside
    ``attachments`` (fallback, pretext, title, title_link, text, fields, nested blocks, action URLs, ...).
    Both Trigger.dev run-failed alert formats carry the id in ``text``, the context block and the
    Investigate button URL.

    Args:
        message: A Slack message object, e.g. the ``message`` of a ``message_action`` payload.

    Returns:
        The run ids found; empty if there are none.
    """
    found: dict[str, None] = {}
    for field in _MESSAGE_FIELDS:
        for string in _strings(message.get(field)):
            for match in RUN_ID_RE.finditer(string):
                found.setdefault(match[0], None)
    return list(found)


def dashboard_url(base: str, run_id: str) -> str:
    """The short dashboard link of a run, which redirects to its full page.

    Args:
        base: The dashboard base, e.g. "https://cloud.trigger.dev", or one with a path such as
            "https://ops.example.com/trigger" (a trailing "/" is ignored).
        run_id: The run id.

    Returns:
        For example "https://cloud.trigger.dev/runs/run_…" or "https://ops.example.com/trigger/runs/run_…".
    """
    return f"{base.rstrip('/')}/runs/{run_id}"


def _run_id_from_url(candidate: str) -> str | None:
    """The run id of a dashboard URL of a run, or None."""
    if "://" not in candidate and _SCHEMELESS_HOST_RE.match(candidate):
        candidate = "https://" + candidate
    try:
        parts = urlsplit(candidate)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    path = _RUN_PATH_RE.fullmatch(parts.path)
    if path is None or any(RUN_ID_RE.fullmatch(segment) for segment in path["prefix"].split("/")):
        return None
    return path["run_id"]


def _strings(value: object) -> Iterator[str]:
    """Every string inside nested mappings and lists, depth-first in document order."""
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
