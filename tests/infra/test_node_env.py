"""The environment the user data hands each node parses with the node's own settings code."""

from __future__ import annotations

import pytest

from infra.node_env import (
    ALB_IDLE_TIMEOUT_S,
    DRAIN_SECONDS,
    STOP_TIMEOUT_S,
    node_environment,
    seed_ips,
)
from infra.user_data import env_file_of, parse_env_file, render_env_file
from node.settings import Settings
from tests.infra.mock_cloud import Deployment

SEEDS = ("10.0.1.10", "10.0.1.11", "10.0.1.12")


def settings_of(node_user_data: str) -> Settings:
    return Settings.from_env(parse_env_file(env_file_of(node_user_data)))


def test_every_node_of_ten_reads_its_index_address_and_the_three_seeds(
    default_stack: Deployment,
) -> None:
    for index, node in enumerate(default_stack.instances):
        settings = settings_of(node.inputs["userData"])
        assert settings.node_index == index
        assert settings.node_ip == f"10.0.1.{10 + index}" == node.inputs["privateIp"]
        assert settings.seed_ips == SEEDS
        assert (settings.http_port, settings.casty_port) == (8000, 25520)
        assert settings.cluster_name == "casty-test"
        assert settings.http_host == "0.0.0.0"


def test_the_node_drains_longer_than_the_alb_needs_and_outlives_its_idle_timeout(
    default_stack: Deployment,
) -> None:
    settings = settings_of(default_stack.instances[0].inputs["userData"])
    assert settings.drain_seconds == DRAIN_SECONDS
    assert settings.keep_alive_s > ALB_IDLE_TIMEOUT_S
    assert settings.drain_seconds + settings.leave_timeout_s < STOP_TIMEOUT_S


def test_the_container_runs_on_the_host_network_restarts_and_stops_after_the_drain(
    default_stack: Deployment,
) -> None:
    user_data = default_stack.instances[0].inputs["userData"]
    assert "--network=host" in user_data
    assert "--restart=unless-stopped" in user_data
    assert f"--stop-timeout={STOP_TIMEOUT_S}" in user_data
    assert "--env-file /etc/casty/node.env" in user_data
    assert "dnf install --assumeyes docker" in user_data
    assert "docker login --username AWS --password-stdin" in user_data


def test_a_small_fleet_has_as_many_seeds_as_nodes_up_to_three(small_stack: Deployment) -> None:
    assert [settings_of(n.inputs["userData"]).seed_ips for n in small_stack.instances] == [
        SEEDS
    ] * 3
    assert seed_ips(1) == ("10.0.1.10",)
    assert seed_ips(2) == ("10.0.1.10", "10.0.1.11")
    assert seed_ips(10) == SEEDS


@pytest.mark.parametrize(("index", "count"), [(-1, 10), (10, 10), (3, 3), (0, 0), (0, 11)])
def test_an_index_outside_the_fleet_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="node"):
        node_environment(index, count, cluster_name="casty-test")


def test_a_cluster_name_the_node_refuses_fails_before_any_boot() -> None:
    with pytest.raises(ValueError, match="CLUSTER_NAME"):
        node_environment(0, 10, cluster_name="casty test")


def test_the_env_file_round_trips_and_refuses_a_line_break() -> None:
    env = node_environment(4, 10, cluster_name="casty-prod")
    assert parse_env_file(render_env_file(env)) == env
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        render_env_file({"LOG_LEVEL": "INFO\nNODE_INDEX=3"})
