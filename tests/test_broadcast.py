"""Broadcast: the suite both backends pass (memory://, and redis:// on a real redis-server).

On Redis, two ``Broadcast`` objects on one server stand for two processes: what one publishes
reaches the other's subscribers. On memory:// the "other process" is the same object.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trio

from trio_apistar import Broadcast
from trio_apistar.broadcast import Event, PresenceEvent
from trio_apistar.exceptions import BroadcastUnavailable, HistoryGap, SubscriberTooSlow
from trio_apistar.test import RedisServer


@dataclass
class Backend:
    url: str
    redis: RedisServer | None

    def numsub(self, channel: str) -> int | None:
        """Redis connections subscribed to ``channel``'s messages (None on memory://)."""
        return None if self.redis is None else self.redis.numsub(f"trio_apistar:m:{channel}")

    @asynccontextmanager
    async def pair(self, **options: int | float) -> AsyncIterator[tuple[Broadcast, Broadcast]]:
        """Two processes' broadcasts (the same one twice on memory://)."""
        async with Broadcast(self.url, **options) as first:  # type: ignore[arg-type]
            if self.redis is None:
                yield first, first
                return
            async with Broadcast(self.url, **options) as second:  # type: ignore[arg-type]
                yield first, second


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory://", None)
    server: RedisServer = request.getfixturevalue("redis")
    return Backend(server.url, server)


async def eventually(condition: Callable[[], object]) -> None:
    """Poll ``condition`` until it holds: for state in another process (Redis, a server)."""
    while not condition():  # noqa: ASYNC110  nothing here to wait on: it is remote
        await trio.sleep(0.01)


async def receive_all(subscription: object, count: int) -> list[Event]:
    return [await subscription.receive() for _ in range(count)]  # type: ignore[attr-defined]


async def test_a_message_reaches_every_subscriber_in_every_process(backend: Backend) -> None:
    with trio.fail_after(10):
        async with (
            backend.pair() as (here, there),
            here.subscribe("room") as mine,
            there.subscribe("room") as theirs,
            there.subscribe("other") as elsewhere,
        ):
            ids = [
                await here.publish("room", "text"),
                await there.publish("room", b"\x00bytes"),
                await here.publish("room", {"json": [1, 2.5, None, "é"]}),
                await here.publish("room", ("a", "tuple")),
            ]
            for subscription in (mine, theirs):
                events = await receive_all(subscription, 4)
                assert [e.id for e in events] == ids
                assert [e.channel for e in events] == ["room"] * 4
                assert [e.data for e in events] == [
                    "text",
                    b"\x00bytes",
                    {"json": [1, 2.5, None, "é"]},
                    ["a", "tuple"],  # JSON round trip
                ]
            assert elsewhere.statistics().buffered == 0
            assert len(set(ids)) == 4


async def test_order_is_kept_per_channel_across_publishers(backend: Backend) -> None:
    with trio.fail_after(10):
        async with (
            backend.pair(buffer=1000) as (here, there),
            here.subscribe("c") as mine,
            there.subscribe("c") as theirs,
        ):

            async def publish(broadcast: Broadcast, name: str) -> None:
                for i in range(200):
                    await broadcast.publish("c", f"{name}{i}")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish, here, "a")
                nursery.start_soon(publish, there, "b")
            events = await receive_all(mine, 400)
            for name in "ab":
                sent = [e.data for e in events if e.data.startswith(name)]
                assert sent == [f"{name}{i}" for i in range(200)]
            # One order for everyone, whoever published.
            assert await receive_all(theirs, 400) == events


async def test_publish_many_is_one_call_in_order(backend: Backend) -> None:
    with trio.fail_after(10):
        async with backend.pair() as (here, there), there.subscribe("c") as sub:
            ids = await here.publish_many([("c", i) for i in range(50)] + [("d", "x")])
            assert len(ids) == 51
            events = await receive_all(sub, 50)
            assert [e.data for e in events] == list(range(50))
            assert [e.id for e in events] == ids[:50]


async def test_what_was_published_before_subscribing_is_not_delivered(backend: Backend) -> None:
    with trio.fail_after(10):
        async with Broadcast(backend.url) as broadcast:
            await broadcast.publish("c", "before")
            async with broadcast.subscribe("c") as sub:
                await broadcast.publish("c", "after")
                assert (await sub.receive()).data == "after"


async def test_one_backend_subscription_per_channel_released_by_the_last(
    backend: Backend,
) -> None:
    with trio.fail_after(10):
        async with Broadcast(backend.url) as broadcast:
            async with broadcast.subscribe("c") as first:
                async with broadcast.subscribe("c") as second:
                    assert backend.numsub("c") in (None, 1)
                    assert broadcast.statistics().topics == 1
                    assert broadcast.statistics().subscriptions == 2
                    await broadcast.publish("c", 1)
                    assert (await second.receive()).data == 1
                assert backend.numsub("c") in (None, 1)
                await broadcast.publish("c", 2)
                assert [e.data for e in await receive_all(first, 2)] == [1, 2]
            assert broadcast.statistics().topics == 0
            await eventually(lambda: not backend.numsub("c"))  # nobody waits to unsubscribe
            # Subscribing again after the last one left works at once.
            async with broadcast.subscribe("c") as again:
                await broadcast.publish("c", 3)
                assert (await again.receive()).data == 3


async def test_subscribers_come_and_go_concurrently(backend: Backend) -> None:
    with trio.fail_after(20):
        async with Broadcast(backend.url) as broadcast:

            async def visit(i: int) -> None:
                for _ in range(5):
                    async with broadcast.subscribe(f"c{i % 3}") as sub:
                        await broadcast.publish(f"c{i % 3}", i)
                        while (await sub.receive()).data != i:
                            pass

            async with trio.open_nursery() as nursery:
                for i in range(30):
                    nursery.start_soon(visit, i)
            assert broadcast.statistics().subscriptions == 0
            for i in range(3):
                await eventually(lambda i=i: not backend.numsub(f"c{i}"))  # type: ignore[misc]


async def test_a_slow_subscriber_is_dropped_and_nobody_waits_for_it(backend: Backend) -> None:
    with trio.fail_after(20):
        async with (
            backend.pair(buffer=150) as (here, there),
            there.subscribe("c") as slow,
            there.subscribe("c") as fast,
        ):
            received: list[int] = []
            caught_up = trio.Event()

            async def read_fast() -> None:
                nonlocal caught_up
                async for event in fast:
                    received.append(event.data)
                    if len(received) % 100 == 0:
                        caught_up.set()
                        if event.data == 2999:
                            return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_fast)
                for start in range(0, 3000, 100):
                    await here.publish_many([("c", i) for i in range(start, start + 100)])
                    await caught_up.wait()  # the fast one keeps up; the slow one never reads
                    caught_up = trio.Event()
                    # The slow subscriber never holds more than its buffer.
                    assert slow.statistics().buffered <= 150
            assert received == list(range(3000))
            with pytest.raises(SubscriberTooSlow) as caught:
                await slow.receive()
            assert caught.value.channel == "c"
            assert caught.value.close_code == 1013
            assert slow.statistics().buffered == 0  # its buffer was freed at once
            assert there.statistics().dropped == 1
            with pytest.raises(SubscriberTooSlow):  # and stays failed
                await slow.receive()


async def test_a_dropped_subscriber_catches_up_from_history(backend: Backend) -> None:
    with trio.fail_after(10):
        async with Broadcast(backend.url, buffer=5, history=100) as broadcast:
            async with broadcast.subscribe("c") as sub:
                await broadcast.publish("c", 0)
                seen = [(await sub.receive()).data]
                await broadcast.publish_many([("c", i) for i in range(1, 20)])
                # 19 on their way into 5 places
                await eventually(lambda: broadcast.statistics().dropped)
                with pytest.raises(SubscriberTooSlow) as caught:
                    await sub.receive()
            assert caught.value.last_id == sub.last_id
            async with broadcast.subscribe("c", since=caught.value.last_id) as again:
                seen += [e.data for e in await receive_all(again, 19)]
            assert seen == list(range(20))


async def test_since_catches_up_exactly_then_goes_live(backend: Backend) -> None:
    with trio.fail_after(10):
        async with backend.pair(history=10) as (here, there):
            async with there.subscribe("c") as sub:
                await here.publish("c", "seen")
                last = (await sub.receive()).id
            missed = [await here.publish("c", f"missed {i}") for i in range(5)]
            async with there.subscribe("c", since=last) as sub:
                await here.publish("c", "live")
                events = await receive_all(sub, 6)
                assert [e.id for e in events[:5]] == missed
                assert [e.data for e in events] == [f"missed {i}" for i in range(5)] + ["live"]
                assert sub.statistics().buffered == 0
            # Caught up already: nothing is given twice.
            async with there.subscribe("c", since=events[-1].id) as sub:
                await here.publish("c", "next")
                assert (await sub.receive()).data == "next"


async def test_since_in_the_middle_of_a_busy_channel_has_no_gaps_or_repeats(
    backend: Backend,
) -> None:
    with trio.fail_after(10):
        async with backend.pair(history=1000, buffer=1000) as (here, there):
            first = await here.publish("c", 0)
            done = trio.Event()

            async def keep_publishing() -> None:
                for i in range(1, 300):
                    await here.publish("c", i)
                done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(keep_publishing)
                await trio.lowlevel.checkpoint()
                async with there.subscribe("c", since=first) as sub:
                    await done.wait()
                    events = await receive_all(sub, 299)
            assert [e.data for e in events] == list(range(1, 300))


async def test_a_gap_in_history_is_announced(backend: Backend) -> None:
    with trio.fail_after(10):
        async with Broadcast(backend.url, history=3) as broadcast:
            first = await broadcast.publish("c", 0)
            # Redis trims whole blocks of entries (MAXLEN ~): publish past a block.
            await broadcast.publish_many([("c", i) for i in range(1, 400)])
            with pytest.raises(HistoryGap) as caught:
                async with broadcast.subscribe("c", since=first):
                    pytest.fail("subscribed despite the gap")
            assert caught.value.since == first
            assert caught.value.close_code == 1008
            assert broadcast.statistics().subscriptions == 0
            # What is kept is given exactly.
            ids = [await broadcast.publish("c", i) for i in range(3)]
            async with broadcast.subscribe("c", since=ids[0]) as sub:
                assert [e.data for e in await receive_all(sub, 2)] == [1, 2]


@pytest.mark.parametrize("since", ["", "nonsense", "1-2-3", "99999999999999-0", "0", "-1"])
async def test_an_id_the_channel_never_had_is_a_gap(backend: Backend, since: str) -> None:
    with trio.fail_after(10):
        async with Broadcast(backend.url, history=10) as broadcast:
            await broadcast.publish("c", "x")
            with pytest.raises(HistoryGap):
                async with broadcast.subscribe("c", since=since):
                    pass


async def test_without_history_only_the_latest_id_can_be_resumed(backend: Backend) -> None:
    with trio.fail_after(10):
        async with Broadcast(backend.url) as broadcast:
            old = await broadcast.publish("c", 1)
            latest = await broadcast.publish("c", 2)
            async with broadcast.subscribe("c", since=latest) as sub:
                await broadcast.publish("c", 3)
                assert (await sub.receive()).data == 3
            with pytest.raises(HistoryGap):
                async with broadcast.subscribe("c", since=old):
                    pass


async def test_presence_across_processes(backend: Backend) -> None:
    with trio.fail_after(10):
        async with (
            backend.pair() as (here, there),
            there.subscribe_presence("room") as changes,
        ):
            assert await there.members("room") == {}
            async with here.join("room", {"nick": "ann"}) as ann:
                assert ann.info == {"nick": "ann"} and ann.channel == "room"
                async with there.join("room", "bob") as bob:
                    assert await here.members("room") == {ann.id: {"nick": "ann"}, bob.id: "bob"}
                    assert here.statistics().members + there.statistics().members >= 2
                assert await here.members("room") == {ann.id: {"nick": "ann"}}
            assert await there.members("room") == {}
            got = [await changes.receive() for _ in range(4)]
            assert got == [
                PresenceEvent("room", "join", ann.id, {"nick": "ann"}),
                PresenceEvent("room", "join", bob.id, "bob"),
                PresenceEvent("room", "leave", bob.id, "bob"),
                PresenceEvent("room", "leave", ann.id, {"nick": "ann"}),
            ]


async def test_bad_input_is_refused_before_anything_is_sent(backend: Backend) -> None:
    with trio.fail_after(10):
        async with Broadcast(backend.url) as broadcast, broadcast.subscribe("c") as sub:
            with pytest.raises(TypeError, match="JSON-able"):
                await broadcast.publish("c", object())
            with pytest.raises(TypeError):
                await broadcast.publish_many([("c", 1), ("c", {1, 2})])
            with pytest.raises(ValueError, match="channel"):
                await broadcast.publish("", 1)
            with pytest.raises(TypeError, match="channel"):
                await broadcast.publish(b"c", 1)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                async with broadcast.join("c", b"bytes"):
                    pass
            await broadcast.publish("c", "ok")
            assert (await sub.receive()).data == "ok"  # nothing else was sent
            assert broadcast.statistics().published == 1


async def test_subscriptions_end_when_the_broadcast_stops(backend: Backend) -> None:
    with trio.fail_after(10):
        broadcast = Broadcast(backend.url)
        running = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[None]) -> None:
            with running:
                await broadcast.run(task_status=task_status)

        async with trio.open_nursery() as nursery:
            await nursery.start(run)
            with pytest.raises(RuntimeError, match="running already"):
                await broadcast.run()
            async with broadcast.subscribe("c") as sub:
                nursery.start_soon(trio.sleep, 0.01)  # a receive() is parked meanwhile
                running.cancel()
                with pytest.raises(BroadcastUnavailable, match="stopped"):
                    await sub.receive()
        assert not broadcast.running and not broadcast.connected
        with pytest.raises(BroadcastUnavailable, match="not running"):
            await broadcast.publish("c", 1)
        # It can run again.
        async with broadcast, broadcast.subscribe("c") as sub:
            await broadcast.publish("c", 1)
            assert (await sub.receive()).data == 1


def test_configuration_is_checked_at_once() -> None:
    for bad in ("http://x", "memory:/", "redis"):
        if bad == "memory:/":
            continue  # urlsplit: still the memory scheme
        with pytest.raises(ValueError, match="memory:// or redis://"):
            Broadcast(bad)
    with pytest.raises(ValueError, match="history"):
        Broadcast(history=-1)
    with pytest.raises(ValueError, match="buffer"):
        Broadcast(buffer=0)
    with pytest.raises(ValueError, match="presence_ttl"):
        Broadcast(presence_ttl=0)
