"""The stack's Pulumi config, validated in one place.

`parse_config` takes the raw strings (`pulumi config set KEY VALUE` stores strings) and returns a
`ClusterConfig`, or raises `ConfigError` naming the key, the value received and what is allowed,
before any resource is declared. `read_config` is the only reader of `pulumi.Config`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra.node_env import MAX_NODES, SUBNET
from node.settings import node_address

DEFAULT_REGION = "us-east-1"

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_INSTANCE_TYPE = re.compile(
    r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z-]*)\.[a-z0-9]+$"
)
_KEY_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")


class ConfigError(pulumi.RunError, ValueError):
    """A config key has a value the stack cannot be deployed with."""


@dataclass(frozen=True)
class ConfigKey:
    """One config key: its name, default and meaning (the README's table)."""

    name: str
    default: str
    meaning: str


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("instance_type", "t3.small", "EC2 instance type of every node; x86_64 only."),
    ConfigKey("node_count", "10", f"Number of nodes, 1 to {MAX_NODES} (10.0.1.10 upwards)."),
    ConfigKey("key_name", "(none)", "EC2 key pair for SSH; without one, Session Manager only."),
    ConfigKey(
        "ssh_cidr",
        "(none)",
        "CIDR allowed to reach port 22; only together with key_name, never 0.0.0.0/0.",
    ),
    ConfigKey("region", DEFAULT_REGION, "AWS region; falls back to aws:region, then us-east-1."),
)


@dataclass(frozen=True)
class ClusterConfig:
    """A validated stack config; every field has the default of `CONFIG_KEYS`."""

    instance_type: str = "t3.small"
    node_count: int = MAX_NODES
    key_name: str | None = None
    ssh_cidr: str | None = None
    region: str = DEFAULT_REGION

    @property
    def ssh_enabled(self) -> bool:
        """Whether port 22 opens: only with both a key pair and a source CIDR."""
        return self.key_name is not None and self.ssh_cidr is not None


def parse_config(raw: Mapping[str, str | None]) -> ClusterConfig:
    """Validate the raw config strings; raises `ConfigError` on the first bad key.

    A missing or empty key takes its default. Unknown keys are ignored: Pulumi keeps other
    namespaces' keys (`aws:region`) in the same file.
    """
    values = {key: (text.strip() if text is not None else "") for key, text in raw.items()}
    key_name = values.get("key_name") or None
    ssh_cidr = values.get("ssh_cidr") or None
    if key_name is not None and not _KEY_NAME.match(key_name):
        raise ConfigError(
            f"config key_name is {key_name!r}: expected an EC2 key pair name of 1 to 255"
            " printable ASCII characters"
        )
    if ssh_cidr is not None:
        if key_name is None:
            raise ConfigError(
                f"config ssh_cidr is {ssh_cidr!r} but key_name is not set: SSH opens only with a"
                " key pair; set key_name too, or unset ssh_cidr and use Session Manager"
            )
        ssh_cidr = _cidr(ssh_cidr)
    return ClusterConfig(
        instance_type=_instance_type(values.get("instance_type") or "t3.small"),
        node_count=_node_count(values.get("node_count") or str(MAX_NODES)),
        key_name=key_name,
        ssh_cidr=ssh_cidr,
        region=_region(values.get("region") or values.get("aws:region") or DEFAULT_REGION),
    )


def read_config() -> ClusterConfig:
    """The current stack's config (`casty-aws-cluster:*`, and `aws:region` as a fallback)."""
    own = pulumi.Config()
    raw: dict[str, str | None] = {key.name: own.get(key.name) for key in CONFIG_KEYS}
    raw["aws:region"] = pulumi.Config("aws").get("region")
    return parse_config(raw)


def _node_count(text: str) -> int:
    allowed = (
        f"expected a whole number from 1 to {MAX_NODES}: the nodes live at"
        f" {node_address(SUBNET, 0)} to {node_address(SUBNET, MAX_NODES - 1)}"
    )
    if not re.fullmatch(r"\d+", text):
        raise ConfigError(f"config node_count is {text!r}: {allowed}")
    count = int(text)
    if not 1 <= count <= MAX_NODES:
        raise ConfigError(f"config node_count is {count}: {allowed}")
    return count


def _instance_type(text: str) -> str:
    match = _INSTANCE_TYPE.match(text)
    if match is None:
        raise ConfigError(
            f"config instance_type is {text!r}: expected an EC2 instance type such as t3.small"
        )
    family, attributes = match["family"], match["attributes"]
    # Graviton types carry a "g" among the attributes after the generation (t4g, m7gd, c7gn),
    # and a1 is the first Graviton: they cannot run the linux/amd64 image the program builds.
    if "g" in attributes or family in ("a", "mac"):
        raise ConfigError(
            f"config instance_type is {text!r}: an arm64 (Graviton) or Mac type cannot run the"
            " linux/amd64 node image; pick an x86_64 type such as t3.small"
        )
    return text


def _cidr(text: str) -> str:
    try:
        network = ipaddress.IPv4Network(text, strict=True)
    except ValueError as error:
        raise ConfigError(
            f"config ssh_cidr is {text!r}: expected an IPv4 CIDR such as 203.0.113.7/32 ({error})"
        ) from None
    if network.prefixlen == 0:
        raise ConfigError(
            f"config ssh_cidr is {text!r}: SSH from the whole internet is refused; give the"
            " address you connect from, as a /32"
        )
    return str(network)


def _region(text: str) -> str:
    if not _REGION.match(text):
        raise ConfigError(f"config region is {text!r}: expected an AWS region such as us-east-1")
    return text
