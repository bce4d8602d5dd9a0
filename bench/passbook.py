"""Time passbook throughput: credits, bulk approvals, concurrent gifts, reconciliation, rebuild.

    DANGQUN_DATABASE_URL=postgres://… DANGQUN_REDIS_URL=redis://… python -m bench.passbook

Creates a new street and community (it never touches existing data), then prints figures.
Run it against a scratch database: it leaves its rows behind.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from decimal import Decimal

from server.accounts.models import Person, Role
from server.accounts.permissions import Principal
from server.accounts.service import grant_role, load_principal
from server.core.config import load_settings
from server.core.db import apply_migrations, orm_context
from server.core.redis import redis_context
from server.org.models import Community, GridLevel, Street
from server.org.service import create_grid
from server.passbook.ledger import InsufficientHours
from server.passbook.models import HoursClaim
from server.passbook.reconcile import reconcile
from server.passbook.service import approve_claims, credit_pending_hours, give_hours
from server.points.boards import rebuild_boards


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


async def _timed_all(work: list, concurrency: int) -> tuple[float, list[float], int]:
    """Run coroutine factories with bounded concurrency; (seconds, latencies, refused)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    refused = 0

    async def one(factory) -> None:  # type: ignore[no-untyped-def]
        nonlocal refused
        async with gate:
            start = time.perf_counter()
            try:
                await factory()
            except InsufficientHours:
                refused += 1
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one(f) for f in work))
    return time.perf_counter() - start, latencies, refused


async def main(volunteers: int, claims: int, gifts: int, concurrency: int) -> None:
    settings = load_settings()
    await apply_migrations(settings)
    async with orm_context(settings), redis_context(settings) as redis:
        tag = f"bench{int(time.time())}"
        street = await Street.create(name="基准街道", code=f"{tag}-s")
        community = await Community.create(
            street=street, name="基准社区", code=f"{tag}-c", join_code=tag[-10:]
        )
        await create_grid(community=community, name="基准社区网格", level=GridLevel.COMMUNITY)
        secretary_person = await Person.create(name="书记")
        await grant_role(person_id=secretary_person.id, role=Role.SECRETARY, community=community)
        secretary = await load_principal(person_id=secretary_person.id)
        people: list[Person] = []
        for index in range(volunteers):
            person = await Person.create(name=f"志愿者{index}")
            await grant_role(person_id=person.id, role=Role.VOLUNTEER, community=community)
            people.append(person)
        principals: dict[int, Principal] = {
            p.id: await load_principal(person_id=p.id) for p in people
        }
        rng = random.Random(7)

        def credit(i: int):  # type: ignore[no-untyped-def]
            person = people[i % volunteers]
            hours = Decimal(rng.randint(25, 400)) / 100
            return lambda: credit_pending_hours(
                volunteer_id=person.id,
                community_id=community.id,
                hours=hours,
                source_kind="task",
                source_id=i,
                rating=rng.choice([3, 4, 5]),
            )

        seconds, lat, _ = await _timed_all([credit(i) for i in range(claims)], concurrency)
        print(
            f"credit_pending_hours: {claims} in {seconds:.2f} s = {claims / seconds:.0f}/s "
            f"(p50 {_ms(lat, 50):.1f} ms, p99 {_ms(lat, 99):.1f} ms, {concurrency} concurrent)"
        )

        ids = [c.id for c in await HoursClaim.filter(community_id=community.id).order_by("id")]
        batches = [ids[i : i + 200] for i in range(0, len(ids), 200)]
        start = time.perf_counter()
        for batch in batches:
            await approve_claims(
                principal=secretary, community_id=community.id, claim_ids=batch, redis=redis
            )
        seconds = time.perf_counter() - start
        print(
            f"bulk approval (200 a request, boards updated after commit): {len(ids)} in "
            f"{seconds:.2f} s = {len(ids) / seconds:.0f} claims/s"
        )

        def gift(i: int):  # type: ignore[no-untyped-def]
            sender = people[rng.randrange(volunteers)]
            target = people[rng.randrange(volunteers)]
            hours = Decimal(rng.randint(10, 300)) / 100
            return lambda: give_hours(
                principal=principals[sender.id],
                community_id=community.id,
                hours=hours,
                to_person_id=None if target.id == sender.id else target.id,
                note="",
            )

        seconds, lat, refused = await _timed_all([gift(i) for i in range(gifts)], concurrency)
        print(
            f"gifts: {gifts} in {seconds:.2f} s = {gifts / seconds:.0f}/s "
            f"(p50 {_ms(lat, 50):.1f} ms, p99 {_ms(lat, 99):.1f} ms, {refused} refused for "
            f"insufficient hours, {concurrency} concurrent)"
        )

        start = time.perf_counter()
        report = await reconcile(community_id=community.id)
        seconds = time.perf_counter() - start
        state = "consistent" if report.ok else f"{len(report.problems)} PROBLEMS"
        print(
            f"reconcile: {report.entries} entries, {report.transfers} transfers in "
            f"{seconds:.2f} s ({state})"
        )
        start = time.perf_counter()
        rebuilt = await rebuild_boards(redis, community_id=community.id)
        seconds = time.perf_counter() - start
        print(f"rebuild-boards: {rebuilt.awards} awards → {rebuilt.keys} keys in {seconds:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=200)
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--gifts", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.volunteers, args.claims, args.gifts, args.concurrency))
