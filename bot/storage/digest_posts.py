"""Which process posts a digest slot: the first to insert the slot's row (ON CONFLICT DO NOTHING RETURNING).

Every process runs the digest loop; at a scheduled instant each tries to claim the slot and only the one whose
insert returned it posts. A process that starts late tries the most recent slot the same way, so a missed digest
is posted once, whichever process comes first. Claims older than KEEP are pruned.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.db import digest_posts, insert_of

KEEP = timedelta(days=30)


class DigestClaims:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, slot: datetime, by: str, now: datetime) -> bool:
        """True for the one caller that claims `slot` first, across every process sharing the database."""
        slot = slot.astimezone(UTC).replace(microsecond=0)
        async with self.engine.begin() as conn:
            insert = insert_of(conn.dialect.name)
            statement = (
                insert(digest_posts)
                .values(slot=slot, posted_by=by[:128], at=now)
                .on_conflict_do_nothing(index_elements=["slot"])
                .returning(digest_posts.c.slot)
            )
            claimed = (await conn.execute(statement)).first() is not None
            if claimed:
                await conn.execute(delete(digest_posts).where(digest_posts.c.slot < slot - KEEP))
        return claimed
