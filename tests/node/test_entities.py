"""The entities in one in-process casty system: what each message does to the state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from casty import ActorSystem, Cluster

from node import entities
from tests.node.helpers import free_port


@pytest.fixture
async def system() -> AsyncIterator[ActorSystem]:
    async with ActorSystem(cluster=Cluster(bind=f"127.0.0.1:{free_port()}")) as system:
        yield system


async def test_increments_answer_the_value_they_produced(system: ActorSystem) -> None:
    ref = system.ref(entities.counter, "c")
    assert await ref.ask(entities.Increment(5)) == entities.Incremented(5)
    assert await ref.ask(entities.Increment(3)) == entities.Incremented(8)
    assert await ref.ask(entities.Increment(-2)) == entities.Incremented(6)
    assert await ref.ask(entities.ReadCounter()) == 6


async def test_a_retried_idempotent_increment_counts_once(system: ActorSystem) -> None:
    ref = system.ref(entities.counter, "c")
    assert await ref.ask(entities.Increment(4, "k")) == entities.Incremented(4)
    assert await ref.ask(entities.Increment(4, "k")) == entities.Incremented(4, replayed=True)
    assert await ref.ask(entities.ReadCounter()) == 4


async def test_an_idempotency_key_reused_for_another_amount_is_rejected(
    system: ActorSystem,
) -> None:
    ref = system.ref(entities.counter, "c")
    await ref.ask(entities.Increment(4, "k"))
    answer = await ref.ask(entities.Increment(5, "k"))
    assert isinstance(answer, entities.Rejected)
    assert answer.code == "idempotency_key_reused"
    assert await ref.ask(entities.ReadCounter()) == 4


async def test_the_idempotency_window_forgets_the_oldest_keys(system: ActorSystem) -> None:
    ref = system.ref(entities.counter, "c")
    for i in range(3):
        await ref.ask(entities.Increment(1, f"k{i}", window=2))
    # k0 fell out of a window of two, so its retry counts again; k2 is still remembered.
    assert await ref.ask(entities.Increment(1, "k2", window=2)) == entities.Incremented(3, True)
    assert await ref.ask(entities.Increment(1, "k0", window=2)) == entities.Incremented(4)


async def test_every_kv_write_gets_a_new_version(system: ActorSystem) -> None:
    ref = system.ref(entities.kv, "u")
    first = await ref.ask(entities.Put("name", "Alice"))
    second = await ref.ask(entities.Put("email", "a@example.org"))
    removed = await ref.ask(entities.Remove("name"))
    again = await ref.ask(entities.Put("name", "Alice"))
    assert [first, second, removed, again] == [
        entities.Entry("Alice", 1),
        entities.Entry("a@example.org", 2),
        entities.Entry("Alice", 1),
        entities.Entry("Alice", 4),
    ]
    assert await ref.ask(entities.ReadAll()) == (
        entities.Listed("email", "a@example.org", 2),
        entities.Listed("name", "Alice", 4),
    )


async def test_conditional_writes_hold_only_at_the_expected_version(system: ActorSystem) -> None:
    ref = system.ref(entities.kv, "u")
    await ref.ask(entities.Put("name", "Alice"))
    stale = await ref.ask(entities.Put("name", "Bob", if_match=7))
    fresh = await ref.ask(entities.Put("name", "Bob", if_match=1))
    create = await ref.ask(entities.Put("name", "Eve", if_absent=True))
    replace_missing = await ref.ask(entities.Put("ghost", "x", if_exists=True))
    assert isinstance(stale, entities.Rejected)
    assert stale.code == "precondition_failed"
    assert fresh == entities.Entry("Bob", 2)
    assert isinstance(create, entities.Rejected)
    assert create.code == "precondition_failed"
    assert isinstance(replace_missing, entities.Rejected)
    assert await ref.ask(entities.Read("name")) == entities.Entry("Bob", 2)
    assert await ref.ask(entities.Read("ghost")) is None


async def test_kv_limits_refuse_a_write_and_change_nothing(system: ActorSystem) -> None:
    ref = system.ref(entities.kv, "u")
    await ref.ask(entities.Put("a", "1", max_keys=1))
    too_many = await ref.ask(entities.Put("b", "2", max_keys=1))
    too_big = await ref.ask(entities.Put("a", "x" * 100, max_bytes=50))
    assert isinstance(too_many, entities.Rejected)
    assert too_many.code == "too_many_keys"
    assert isinstance(too_big, entities.Rejected)
    assert too_big.code == "entity_too_large"
    assert await ref.ask(entities.ReadAll()) == (entities.Listed("a", "1", 1),)


async def test_removing_a_missing_key_is_rejected(system: ActorSystem) -> None:
    answer = await system.ref(entities.kv, "u").ask(entities.Remove("nope"))
    assert isinstance(answer, entities.Rejected)
    assert answer.code == "key_not_found"
