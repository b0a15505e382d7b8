"""Config validation: defaults, and every bad value refused with a message naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.config import CONFIG_KEYS, ClusterConfig, ConfigError, parse_config
from tests.infra.mock_cloud import deploy

PULUMI_YAML = Path(__file__).resolve().parents[2] / "infra" / "Pulumi.yaml"


def test_an_empty_config_gives_the_seed_defaults() -> None:
    config = parse_config({})
    assert config == ClusterConfig()
    assert (config.instance_type, config.node_count, config.key_name) == ("t3.small", 10, None)
    assert config.region == "us-east-1"
    assert not config.ssh_enabled


def test_the_project_file_declares_every_key_with_defaults_that_parse_to_the_same_config() -> None:
    project = yaml.safe_load(PULUMI_YAML.read_text())
    assert project["name"] == "casty-aws-cluster"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "uv"}}
    declared = project["config"]
    assert set(declared) == {key.name for key in CONFIG_KEYS}
    defaults = {name: str(spec["default"]) for name, spec in declared.items()}
    assert parse_config(defaults) == ClusterConfig()


def test_region_falls_back_to_aws_region() -> None:
    assert parse_config({"aws:region": "eu-central-1"}).region == "eu-central-1"
    assert parse_config({"region": "us-west-2", "aws:region": "eu-central-1"}).region == "us-west-2"


def test_good_values_are_kept() -> None:
    config = parse_config(
        {
            "instance_type": "m7i-flex.large",
            "node_count": "3",
            "key_name": "ops key",
            "ssh_cidr": "198.51.100.0/24",
            "region": "ap-southeast-2",
        }
    )
    assert config == ClusterConfig(
        "m7i-flex.large", 3, "ops key", "198.51.100.0/24", "ap-southeast-2"
    )
    assert config.ssh_enabled


@pytest.mark.parametrize(
    ("raw", "key", "hint"),
    [
        ({"node_count": "0"}, "node_count", "1 to 10"),
        ({"node_count": "11"}, "node_count", "10.0.1.19"),
        ({"node_count": "-1"}, "node_count", "whole number"),
        ({"node_count": "3.5"}, "node_count", "whole number"),
        ({"node_count": "ten"}, "node_count", "whole number"),
        ({"instance_type": "t3"}, "instance_type", "such as t3.small"),
        ({"instance_type": "t4g.small"}, "instance_type", "linux/amd64"),
        ({"instance_type": "m7gd.large"}, "instance_type", "linux/amd64"),
        ({"instance_type": "a1.large"}, "instance_type", "linux/amd64"),
        ({"key_name": "bad\u00e9"}, "key_name", "printable ASCII"),
        ({"ssh_cidr": "203.0.113.7/32"}, "ssh_cidr", "key_name is not set"),
        ({"key_name": "ops", "ssh_cidr": "0.0.0.0/0"}, "ssh_cidr", "whole internet"),
        ({"key_name": "ops", "ssh_cidr": "203.0.113.7/24"}, "ssh_cidr", "host bits"),
        ({"key_name": "ops", "ssh_cidr": "my-laptop"}, "ssh_cidr", "IPv4 CIDR"),
        ({"region": "Virginia"}, "region", "such as us-east-1"),
    ],
)
def test_a_bad_value_is_refused_with_a_message_naming_the_key(
    raw: dict[str, str], key: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    message = str(refused.value)
    assert message.startswith(f"config {key} is "), message
    assert hint in message, message


def test_a_bad_node_count_stops_the_program_before_any_resource() -> None:
    with pytest.raises(ValueError, match="node_count is 11"):
        deploy(ClusterConfig(node_count=11))


def test_the_readme_config_table_lists_every_key_as_the_code_does() -> None:
    readme = (PULUMI_YAML.parents[1] / "README.md").read_text()
    section = readme[readme.index("<!-- infra -->") : readme.index("<!-- /infra -->")]
    rows = [f"| `{key.name}` | `{key.default}` | {key.meaning} |" for key in CONFIG_KEYS]
    for row in rows:
        assert row in section, f"README's infra config table lacks or misstates: {row}"
