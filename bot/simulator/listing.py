"""`GET /api/v1/runs`: the list's query, its filters and its 7-day window on creation, and its paging."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from bot.simulator.delays import parse_date, parse_duration_ms
from bot.simulator.runs import LEGACY_NAMES, V4_STATUSES, SimulatedRun, api_status

__all__ = ["ListQuery"]

DEFAULT_PERIOD = timedelta(days=7)
DEFAULT_SIZE = 25


@dataclass(frozen=True, slots=True)
class ListQuery:
    """`filter[status]` (v4 or legacy names), `filter[taskIdentifier]`, `filter[tag]` (comma lists), runs created
    in the last 7 days unless `filter[createdAt][from]`, `[to]` or `[period]` says otherwise, pages of `page[size]`
    (1-100, default 25) followed with `page[after]`."""

    statuses: tuple[str, ...]
    tasks: tuple[str, ...]
    tags: tuple[str, ...]
    created_from: datetime
    created_to: datetime
    size: int
    after: str | None

    @classmethod
    def parse(cls, query: str, now: datetime) -> ListQuery:
        """The query string's filters; ValueError with the server's detail when one is invalid."""
        params = parse_qs(query)
        statuses = _values(params, "filter[status]")
        unknown = [s for s in statuses if s not in V4_STATUSES and s not in LEGACY_NAMES]
        if unknown:
            raise ValueError(f"Invalid status values: {', '.join(unknown)}")
        created_from, created_to = _created_window(params, now)
        size = DEFAULT_SIZE
        if "page[size]" in params:
            size = int(params["page[size]"][0])
            if not 1 <= size <= 100:
                raise ValueError("page[size] must be between 1 and 100")
        after = params["page[after]"][0] if "page[after]" in params else None
        tasks, tags = _values(params, "filter[taskIdentifier]"), _values(params, "filter[tag]")
        return cls(statuses, tasks, tags, created_from, created_to, size, after)

    def page(self, runs: Iterable[SimulatedRun]) -> tuple[list[SimulatedRun], str | None]:
        """The matching runs of this page, newest first, and the `pagination.next` cursor (None on the last)."""
        selected = sorted(
            (run for run in runs if self._matches(run)), key=lambda run: (run.created_at, run.id), reverse=True
        )
        if self.after is not None:
            ids = [run.id for run in selected]
            selected = selected[ids.index(self.after) + 1 :] if self.after in ids else []
        page = selected[: self.size]
        return page, page[-1].id if len(selected) > self.size else None

    def _matches(self, run: SimulatedRun) -> bool:
        return (
            (not self.statuses or run.status in self.statuses or api_status(run.status, None) in self.statuses)
            and (not self.tasks or run.task in self.tasks)
            and (not self.tags or any(tag in run.tags for tag in self.tags))
            and self.created_from <= run.created_at <= self.created_to
        )


def _values(params: dict[str, list[str]], name: str) -> tuple[str, ...]:
    return tuple(item for value in params.get(name, []) for item in value.split(",") if item)


def _created_window(params: dict[str, list[str]], now: datetime) -> tuple[datetime, datetime]:
    """`filter[createdAt][from]`/`[to]` (epoch ms or ISO) or `[period]`; none of them: the last 7 days."""
    start: datetime | None = None
    end = datetime.max.replace(tzinfo=UTC)
    if "filter[createdAt][from]" in params:
        start = _coerced_date(params["filter[createdAt][from]"][0])
    if "filter[createdAt][to]" in params:
        end = _coerced_date(params["filter[createdAt][to]"][0])
    if "filter[createdAt][period]" in params:
        millis = parse_duration_ms(params["filter[createdAt][period]"][0])
        if millis is None:
            raise ValueError("Invalid period")
        start = now - timedelta(milliseconds=millis)
    if start is None and "filter[createdAt][to]" not in params:
        start = now - DEFAULT_PERIOD
    return start or datetime.min.replace(tzinfo=UTC), end


def _coerced_date(text: str) -> datetime:
    """`CoercedDate`: epoch milliseconds or an ISO date."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    parsed = parse_date(text)
    if parsed is None:
        raise ValueError(f"Invalid date {text!r}")
    return parsed
