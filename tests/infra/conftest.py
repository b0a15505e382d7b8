"""Fixtures of the infra tests: the program run once per session on Pulumi's mocks."""

from __future__ import annotations

import pytest

from infra.config import ClusterConfig
from tests.infra.mock_cloud import Deployment, deploy


@pytest.fixture(scope="session")
def default_stack() -> Deployment:
    """The stack with every config key at its default: ten t3.small nodes, no SSH."""
    return deploy(ClusterConfig())


@pytest.fixture(scope="session")
def small_stack() -> Deployment:
    """A three-node stack."""
    return deploy(ClusterConfig(node_count=3))


@pytest.fixture(scope="session")
def ssh_stack() -> Deployment:
    """A stack with a key pair and an SSH CIDR, the only case in which port 22 opens."""
    return deploy(ClusterConfig(key_name="ops", ssh_cidr="203.0.113.7/32"))
