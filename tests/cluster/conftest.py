"""Fixtures of the local cluster's tests: an HTTP client for the published ports."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A client for 127.0.0.1 published ports: no proxies from the environment."""
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client
