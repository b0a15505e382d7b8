"""The environment of node i on AWS, and the timing figures the node and the ALB share.

`node_environment` is the one place that decides what a node on EC2 is told; the user data
renders it into an env file, and it is checked here against the node's own parser
(`node.settings.Settings.from_env`), so a setting the node renames or tightens fails the
preview instead of a boot.
"""

from __future__ import annotations

from node.settings import Settings, SettingsError, node_address

SUBNET = "10.0.1.0/24"
"""The node subnet, as in the local cluster: node i is its host 10 + i."""
MAX_NODES = 10
"""The layout holds ten nodes, 10.0.1.10 to 10.0.1.19."""
SEED_COUNT = 3
"""The first three nodes are seeds, so no single seed is needed for a node to join."""
HTTP_PORT = 8000
CASTY_PORT = 25520

# ---- how the ALB and a draining node fit together -------------------------------------------

HEALTH_INTERVAL_S = 5
"""ALB health check period on /health."""
HEALTH_TIMEOUT_S = 3
"""A check that takes longer fails; below the interval, as the ALB requires."""
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 2
ALB_IDLE_TIMEOUT_S = 60
KEEP_ALIVE_S = 75
"""The node's keep-alive outlives the ALB's idle timeout, or idle connections end in 502s."""
DRAIN_SECONDS = HEALTH_INTERVAL_S * (UNHEALTHY_THRESHOLD + 1)
"""On SIGTERM the node fails /health this long (15 s) before it stops serving: the ALB needs
`UNHEALTHY_THRESHOLD` failed checks, plus one interval of phase, to stop sending it requests.
The node's own default (6 s) suits the local balancer's faster checks, not the ALB's."""
LEAVE_TIMEOUT_S = 15
"""After draining, how long the node waits for replicas to take over its entities."""
STOP_TIMEOUT_S = DRAIN_SECONDS + LEAVE_TIMEOUT_S + 10
"""Docker's grace between SIGTERM and SIGKILL (40 s): drain, leave, and a margin."""
DEREGISTRATION_DELAY_S = 30
"""How long the ALB lets in-flight requests finish on a deregistered target (at most 60 s)."""


def seed_ips(node_count: int) -> tuple[str, ...]:
    """The seeds of a fleet of `node_count` nodes: the first three, fewer in a smaller fleet."""
    return tuple(node_address(SUBNET, i) for i in range(min(SEED_COUNT, node_count)))


def node_environment(index: int, node_count: int, *, cluster_name: str) -> dict[str, str]:
    """The environment variables of node `index` in a fleet of `node_count` on EC2.

    Raises `ValueError` when the index is outside the fleet or when the node's own settings
    parser refuses the result (the message names the variable).
    """
    if not 1 <= node_count <= MAX_NODES:
        raise ValueError(f"node_count is {node_count}: expected 1 to {MAX_NODES}")
    if not 0 <= index < node_count:
        raise ValueError(f"node index is {index}: expected 0 to {node_count - 1}")
    env = {
        "NODE_INDEX": str(index),
        "NODE_IP": node_address(SUBNET, index),
        "SEED_IPS": ",".join(seed_ips(node_count)),
        "CASTY_PORT": str(CASTY_PORT),
        "HTTP_PORT": str(HTTP_PORT),
        "HTTP_HOST": "0.0.0.0",
        "CLUSTER_SUBNET": SUBNET,
        "CLUSTER_NAME": cluster_name,
        "LOG_FORMAT": "json",
        "DRAIN_SECONDS": str(DRAIN_SECONDS),
        "LEAVE_TIMEOUT_S": str(LEAVE_TIMEOUT_S),
        "KEEP_ALIVE_S": str(KEEP_ALIVE_S),
    }
    try:
        Settings.from_env(env)
    except SettingsError as error:
        raise ValueError(f"node {index}: the node refuses its AWS environment: {error}") from None
    return env
