"""The node's settings: every environment variable it reads, validated in one place.

`Settings.from_env` is the only reader of the environment. A bad value raises `SettingsError`
naming the variable, the value received and what is allowed; `python -m node` prints it and exits
with status 2 before anything listens or dials.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Literal

DEFAULT_SUBNET = "10.0.1.0/24"
FIRST_HOST = 10
"""Node *i* lives at the subnet's address 10 + i, mirroring the AWS layout."""


class SettingsError(ValueError):
    """A setting has a value the node cannot run with."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default and what it means (the README's table)."""

    name: str
    default: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("NODE_INDEX", "0", "This node's index, 0-based; node i lives at the subnet's .(10+i)."),
    Setting(
        "SEED_IPS", "127.0.0.1", "Comma-separated IPs of the seed nodes the node joins through."
    ),
    Setting("CASTY_PORT", "25520", "TCP port of the casty cluster transport, on every node."),
    Setting("HTTP_PORT", "8000", "TCP port of the HTTP API."),
    Setting("HTTP_HOST", "0.0.0.0", "Address the HTTP API binds to."),
    Setting(
        "NODE_IP",
        "",
        "IP this node advertises to the others. Empty: 127.0.0.1 when every seed is a loopback"
        " address, otherwise the subnet's .(10+NODE_INDEX).",
    ),
    Setting(
        "CLUSTER_SUBNET", DEFAULT_SUBNET, "Subnet the nodes live in (move it if your LAN collides)."
    ),
    Setting(
        "CLUSTER_NAME", "casty-cluster", "casty cluster name; a node of another name is refused."
    ),
    Setting(
        "REPLICAS",
        "3",
        "Replicas kept of each entity (capped by the cluster size); writes wait for a majority.",
    ),
    Setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR."),
    Setting("LOG_FORMAT", "plain", "plain (one line of text) or json (one object per line)."),
    Setting("HEARTBEAT_MS", "250", "casty heartbeat period between neighbours."),
    Setting(
        "SUSPECT_AFTER_MS",
        "1000",
        "Silence after which casty suspects a member (its owner keys move).",
    ),
    Setting("DEAD_AFTER_MS", "1000", "Time as suspect after which casty declares a member dead."),
    Setting("REMOVE_AFTER_S", "60", "Time as dead after which a member is removed from the table."),
    Setting(
        "REQUEST_TIMEOUT_MS", "5000", "Deadline of one entity operation; past it the answer is 504."
    ),
    Setting(
        "WRITE_TIMEOUT_MS",
        "3000",
        "How long a write waits for a majority of replicas; past it, 503.",
    ),
    Setting(
        "REPEAT_AFTER_MS",
        "2000",
        "A read, or an increment with an Idempotency-Key, unanswered this long is asked once more.",
    ),
    Setting(
        "DRAIN_SECONDS", "6", "On SIGTERM, how long /health fails before the node stops serving."
    ),
    Setting(
        "LEAVE_TIMEOUT_S",
        "15",
        "On shutdown, how long the node waits for replicas to take its entities.",
    ),
    Setting(
        "KEEP_ALIVE_S", "75", "HTTP keep-alive; above the load balancer's idle timeout (ALB: 60 s)."
    ),
    Setting("MAX_ID_LENGTH", "128", "Longest entity id and KV key, in characters."),
    Setting("MAX_VALUE_BYTES", "65536", "Largest KV value, in UTF-8 bytes."),
    Setting("MAX_KEYS_PER_ENTITY", "1000", "Most keys one KV entity holds."),
    Setting(
        "MAX_ENTITY_BYTES",
        "1048576",
        "Most UTF-8 bytes of keys and values one KV entity holds"
        " (every write copies the whole entity to its replicas).",
    ),
    Setting("MAX_AMOUNT", "1000000000", "Largest absolute increment amount."),
    Setting("MAX_BODY_BYTES", "131072", "Largest request body; larger is 413."),
    Setting(
        "IDEMPOTENCY_WINDOW", "256", "Idempotency keys remembered per counter (the most recent)."
    ),
)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["plain", "json"]


@dataclass(frozen=True)
class Settings:
    """A node's validated settings. Build it with `from_env`; every field has a default."""

    node_index: int = 0
    seed_ips: tuple[str, ...] = ("127.0.0.1",)
    casty_port: int = 25520
    http_port: int = 8000
    http_host: str = "0.0.0.0"
    node_ip: str = "127.0.0.1"
    cluster_subnet: str = DEFAULT_SUBNET
    cluster_name: str = "casty-cluster"
    replicas: int = 3
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "plain"
    heartbeat_ms: int = 250
    suspect_after_ms: int = 1000
    dead_after_ms: int = 1000
    remove_after_s: int = 60
    request_timeout_ms: int = 5000
    write_timeout_ms: int = 3000
    repeat_after_ms: int = 2000
    drain_seconds: float = 6.0
    leave_timeout_s: int = 15
    keep_alive_s: int = 75
    max_id_length: int = 128
    max_value_bytes: int = 65536
    max_keys_per_entity: int = 1000
    max_entity_bytes: int = 1_048_576
    max_amount: int = 1_000_000_000
    max_body_bytes: int = 131072
    idempotency_window: int = 256

    @property
    def casty_address(self) -> str:
        """The `host:port` this node advertises to the cluster."""
        return f"{self.node_ip}:{self.casty_port}"

    @property
    def seeds(self) -> tuple[str, ...]:
        """The seeds as casty dials them, `host:port`."""
        return tuple(f"{ip}:{self.casty_port}" for ip in self.seed_ips)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every setting from `env`; raise `SettingsError` at the first bad."""
        raw = {s.name: env.get(s.name, s.default).strip() for s in SETTINGS}
        node_index = _integer(raw, "NODE_INDEX", 0, 244)
        seed_ips = _seed_ips(raw["SEED_IPS"])
        subnet = _subnet(raw["CLUSTER_SUBNET"])
        node_ip = _node_ip(raw["NODE_IP"], seed_ips, subnet, node_index)
        heartbeat = _integer(raw, "HEARTBEAT_MS", 50, 60_000)
        suspect = _integer(raw, "SUSPECT_AFTER_MS", 100, 600_000)
        if suspect <= heartbeat:
            raise SettingsError(
                f"SUSPECT_AFTER_MS is {suspect}, not above HEARTBEAT_MS of {heartbeat}:"
                " a member would be suspected before it could answer one heartbeat"
            )
        settings = cls(
            node_index=node_index,
            seed_ips=seed_ips,
            casty_port=_integer(raw, "CASTY_PORT", 1, 65535),
            http_port=_integer(raw, "HTTP_PORT", 1, 65535),
            http_host=_ip(raw, "HTTP_HOST"),
            node_ip=node_ip,
            cluster_subnet=str(subnet),
            cluster_name=_name(raw["CLUSTER_NAME"]),
            replicas=_integer(raw, "REPLICAS", 1, 9),
            log_level=_choice(raw, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), str.upper),
            log_format=_choice(raw, "LOG_FORMAT", ("plain", "json"), str.lower),
            heartbeat_ms=heartbeat,
            suspect_after_ms=suspect,
            dead_after_ms=_integer(raw, "DEAD_AFTER_MS", 100, 600_000),
            remove_after_s=_integer(raw, "REMOVE_AFTER_S", 1, 86_400),
            request_timeout_ms=_integer(raw, "REQUEST_TIMEOUT_MS", 100, 120_000),
            write_timeout_ms=_integer(raw, "WRITE_TIMEOUT_MS", 100, 120_000),
            repeat_after_ms=_integer(raw, "REPEAT_AFTER_MS", 50, 120_000),
            drain_seconds=_number(raw, "DRAIN_SECONDS", 0.0, 300.0),
            leave_timeout_s=_integer(raw, "LEAVE_TIMEOUT_S", 1, 600),
            keep_alive_s=_integer(raw, "KEEP_ALIVE_S", 1, 3600),
            max_id_length=_integer(raw, "MAX_ID_LENGTH", 1, 1024),
            max_value_bytes=_integer(raw, "MAX_VALUE_BYTES", 1, 1_048_576),
            max_keys_per_entity=_integer(raw, "MAX_KEYS_PER_ENTITY", 1, 100_000),
            max_entity_bytes=_integer(raw, "MAX_ENTITY_BYTES", 1024, 64 * 1_048_576),
            max_amount=_integer(raw, "MAX_AMOUNT", 1, 2**53),
            max_body_bytes=_integer(raw, "MAX_BODY_BYTES", 1024, 16_777_216),
            idempotency_window=_integer(raw, "IDEMPOTENCY_WINDOW", 1, 100_000),
        )
        if settings.request_timeout_ms <= settings.write_timeout_ms:
            raise SettingsError(
                f"REQUEST_TIMEOUT_MS is {settings.request_timeout_ms},"
                f" not above WRITE_TIMEOUT_MS of {settings.write_timeout_ms}: an unconfirmed"
                " write would surface as a deadline (504) instead of as unavailable (503)"
            )
        if settings.repeat_after_ms >= settings.request_timeout_ms:
            raise SettingsError(
                f"REPEAT_AFTER_MS is {settings.repeat_after_ms}, not below REQUEST_TIMEOUT_MS of"
                f" {settings.request_timeout_ms}: no time would be left to ask again"
            )
        if settings.max_entity_bytes < settings.max_value_bytes:
            raise SettingsError(
                f"MAX_ENTITY_BYTES is {settings.max_entity_bytes}, below MAX_VALUE_BYTES of"
                f" {settings.max_value_bytes}: the largest allowed value could never be stored"
            )
        if settings.max_body_bytes < settings.max_value_bytes:
            raise SettingsError(
                f"MAX_BODY_BYTES is {settings.max_body_bytes}, below MAX_VALUE_BYTES of"
                f" {settings.max_value_bytes}: the largest allowed value could not be sent"
            )
        return settings

    def environment(self) -> dict[str, str]:
        """These settings as the environment variables that `from_env` reads back unchanged."""
        out: dict[str, str] = {}
        for setting, field in zip(SETTINGS, fields(self), strict=True):
            value = getattr(self, field.name)
            out[setting.name] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out


def node_address(subnet: str, index: int) -> str:
    """The address of node `index` in `subnet`: its host number 10 + index."""
    network = ipaddress.IPv4Network(subnet)
    return str(network.network_address + FIRST_HOST + index)


def _integer(raw: Mapping[str, str], name: str, low: int, high: int) -> int:
    text = raw[name]
    try:
        value = int(text, 10)
    except ValueError:
        raise SettingsError(
            f"{name} is {text!r}: expected a whole number from {low} to {high}"
        ) from None
    if not low <= value <= high:
        raise SettingsError(f"{name} is {value}: expected a whole number from {low} to {high}")
    return value


def _number(raw: Mapping[str, str], name: str, low: float, high: float) -> float:
    text = raw[name]
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} is {text!r}: expected a number from {low} to {high}") from None
    if not low <= value <= high:  # also refuses NaN, for which no comparison holds
        raise SettingsError(f"{name} is {text!r}: expected a number from {low} to {high}")
    return value


def _choice[T: str](
    raw: Mapping[str, str], name: str, allowed: tuple[T, ...], normal: Callable[[str], str]
) -> T:
    text = normal(raw[name])
    for option in allowed:
        if option == text:
            return option
    raise SettingsError(f"{name} is {raw[name]!r}: expected one of {', '.join(allowed)}")


def _ip(raw: Mapping[str, str], name: str) -> str:
    try:
        return str(ipaddress.IPv4Address(raw[name]))
    except ValueError:
        raise SettingsError(f"{name} is {raw[name]!r}: expected an IPv4 address") from None


def _seed_ips(text: str) -> tuple[str, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise SettingsError(
            f"SEED_IPS is {text!r}: expected one or more comma-separated IPv4 addresses"
        )
    seeds = []
    for part in parts:
        try:
            seeds.append(str(ipaddress.IPv4Address(part)))
        except ValueError:
            raise SettingsError(
                f"SEED_IPS is {text!r}: {part!r} is not an IPv4 address"
                " (expected comma-separated IPv4 addresses)"
            ) from None
    if len(set(seeds)) != len(seeds):
        raise SettingsError(f"SEED_IPS is {text!r}: an address appears twice")
    return tuple(seeds)


def _subnet(text: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError:
        raise SettingsError(
            f"CLUSTER_SUBNET is {text!r}: expected an IPv4 network such as {DEFAULT_SUBNET}"
        ) from None
    if network.prefixlen > 24:
        raise SettingsError(
            f"CLUSTER_SUBNET is {text!r}: a /{network.prefixlen} is too small; node addresses"
            f" start at host {FIRST_HOST}, so it must be a /24 or larger"
        )
    return network


def _node_ip(text: str, seeds: tuple[str, ...], subnet: ipaddress.IPv4Network, index: int) -> str:
    if not text:
        if all(ipaddress.IPv4Address(seed).is_loopback for seed in seeds):
            # A node started by hand next to loopback seeds must never advertise or dial the
            # cluster subnet: nothing of ours is there.
            return "127.0.0.1"
        return str(subnet.network_address + FIRST_HOST + index)
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise SettingsError(f"NODE_IP is {text!r}: expected an IPv4 address, or empty") from None
    if address.is_unspecified:
        raise SettingsError(
            f"NODE_IP is {text!r}: a node must advertise an address others can dial"
        )
    return str(address)


def _name(text: str) -> str:
    if not text or len(text) > 64 or not all(c.isalnum() or c in "-_." for c in text):
        raise SettingsError(
            f"CLUSTER_NAME is {text!r}: expected 1 to 64 letters, digits, '-', '_' or '.'"
        )
    return text
