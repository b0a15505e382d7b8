"""Settings: defaults, derived addresses, and a clear refusal of every bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from node.settings import SETTINGS, Settings, SettingsError, node_address
from tests.node.helpers import ROOT


def test_no_environment_gives_the_seed_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.node_index == 0
    assert settings.seed_ips == ("127.0.0.1",)
    assert (settings.casty_port, settings.http_port) == (25520, 8000)
    assert settings.node_ip == "127.0.0.1"


def test_every_setting_round_trips_through_its_environment() -> None:
    settings = Settings.from_env({"NODE_INDEX": "4", "SEED_IPS": "10.0.1.10,10.0.1.11,10.0.1.12"})
    assert Settings.from_env(settings.environment()) == settings
    assert sorted(settings.environment()) == sorted(s.name for s in SETTINGS)


def test_loopback_seeds_keep_the_node_off_the_cluster_subnet() -> None:
    settings = Settings.from_env({"NODE_INDEX": "7", "SEED_IPS": "127.0.0.1,127.0.0.2"})
    assert settings.node_ip == "127.0.0.1"


def test_cluster_seeds_place_node_i_at_ten_plus_i() -> None:
    settings = Settings.from_env({"NODE_INDEX": "7", "SEED_IPS": "10.0.1.10,10.0.1.11"})
    assert settings.node_ip == "10.0.1.17"
    assert settings.seeds == ("10.0.1.10:25520", "10.0.1.11:25520")


def test_a_moved_subnet_moves_the_derived_addresses() -> None:
    settings = Settings.from_env(
        {"NODE_INDEX": "2", "SEED_IPS": "10.9.0.10", "CLUSTER_SUBNET": "10.9.0.0/24"}
    )
    assert settings.node_ip == "10.9.0.12"
    assert node_address("10.9.0.0/24", 2) == "10.9.0.12"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"NODE_INDEX": "x"}, ("NODE_INDEX", "'x'")),
        ({"NODE_INDEX": "-1"}, ("NODE_INDEX", "-1", "0 to 244")),
        ({"SEED_IPS": ""}, ("SEED_IPS",)),
        ({"SEED_IPS": "10.0.1.10,nope"}, ("SEED_IPS", "'nope'")),
        ({"SEED_IPS": "127.0.0.1,127.0.0.1"}, ("SEED_IPS", "twice")),
        ({"CASTY_PORT": "70000"}, ("CASTY_PORT", "70000", "1 to 65535")),
        ({"HTTP_PORT": "8o"}, ("HTTP_PORT", "'8o'")),
        ({"NODE_IP": "0.0.0.0"}, ("NODE_IP",)),
        ({"CLUSTER_SUBNET": "10.0.1.0/28"}, ("CLUSTER_SUBNET", "/28")),
        ({"CLUSTER_NAME": "a b"}, ("CLUSTER_NAME",)),
        ({"LOG_LEVEL": "loud"}, ("LOG_LEVEL", "'loud'", "DEBUG")),
        ({"LOG_FORMAT": "xml"}, ("LOG_FORMAT", "plain, json")),
        ({"HEARTBEAT_MS": "1000", "SUSPECT_AFTER_MS": "900"}, ("SUSPECT_AFTER_MS", "HEARTBEAT_MS")),
        ({"DRAIN_SECONDS": "nan"}, ("DRAIN_SECONDS",)),
        ({"REQUEST_TIMEOUT_MS": "1000", "WRITE_TIMEOUT_MS": "2000"}, ("REQUEST_TIMEOUT_MS",)),
        ({"MAX_VALUE_BYTES": "200000"}, ("MAX_BODY_BYTES",)),
        ({"REPLICAS": "0"}, ("REPLICAS", "1 to 9")),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_and_value(
    env: dict[str, str], names: tuple[str, ...]
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    for name in names:
        assert name in str(refused.value)


def test_the_node_refuses_to_start_on_a_bad_value_with_status_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node"],
        cwd=ROOT,
        env={"NODE_INDEX": "ten", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "NODE_INDEX is 'ten'" in done.stderr


def test_the_readme_table_explains_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(derived)"
        assert f"| `{setting.name}` | {default} |" in readme, setting.name
