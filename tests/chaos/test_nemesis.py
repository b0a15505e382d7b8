"""The nemesis schedule is pure and reproducible from its seed. No cluster, no root."""

from __future__ import annotations

import random

from compose.chaos.nemesis import NEMESES, owner_node, plan

HOT = ["hot-0", "hot-1"]


def test_one_seed_gives_one_schedule_and_another_seed_another() -> None:
    first = plan(random.Random(7), 60, NEMESES, 10, HOT)
    again = plan(random.Random(7), 60, NEMESES, 10, HOT)
    other = plan(random.Random(8), 60, NEMESES, 10, HOT)
    assert first == again
    assert first != other


def test_a_sixty_second_run_plans_at_least_three_faults_that_fit_in_it() -> None:
    for seed in range(20):
        faults = plan(random.Random(seed), 60, NEMESES, 10, HOT)
        assert len(faults) >= 3, seed
        assert sum(f.cost_s for f in faults) <= 60 - 3


def test_the_schedule_cycles_through_every_chosen_kind_before_repeating_one() -> None:
    faults = plan(random.Random(3), 600, ("kill", "pause", "split"), 10, HOT)
    kinds = [f.kind for f in faults]
    assert sorted(kinds[:3]) == ["kill", "pause", "split"]
    assert kinds[3:6] == kinds[:3]


def test_a_split_has_two_disjoint_sides_covering_every_node() -> None:
    for seed in range(30):
        (split,) = plan(random.Random(seed), 20, ("split",), 10, HOT)
        assert set(split.nodes).isdisjoint(split.other)
        assert sorted(split.nodes + split.other) == list(range(10))
        assert len(split.nodes) in (3, 4, 5)


def test_victims_are_real_nodes_and_owner_faults_name_a_hot_entity() -> None:
    faults = plan(random.Random(1), 3600, NEMESES, 10, HOT)
    for fault in faults:
        assert all(0 <= n < 10 for n in fault.nodes)
        if fault.kind == "owner":
            assert fault.entity in HOT
        if fault.kind == "restart":
            assert len(set(fault.nodes)) == 2


def test_an_owner_address_maps_back_to_its_node_index() -> None:
    addresses = [f"10.0.1.{10 + i}" for i in range(10)]
    assert owner_node("10.0.1.17:25520", addresses) == 7
    assert owner_node("10.0.1.10:25520", addresses) == 0
    assert owner_node("10.0.2.17:25520", addresses) is None
    assert owner_node(None, addresses) is None


def test_no_nemesis_means_no_fault() -> None:
    assert plan(random.Random(1), 60, (), 10, HOT) == []
