"""The benchmark's balancers run the cluster's own HAProxy config with only addresses changed."""

from __future__ import annotations

import re

from loadtest.bench import HAPROXY_CFG, balancer_config


def test_bench_balancer_config_keeps_every_setting_and_changes_only_bind_and_servers() -> None:
    original = HAPROXY_CFG.read_text()
    nodes = [("127.77.1.1", 19000), ("127.77.1.2", 19000), ("127.77.1.3", 19000)]
    config = balancer_config(original, ("127.77.0.250", 19080), nodes)

    assert re.findall(r"^\s*bind\s+(\S+)", config, re.M) == ["127.77.0.250:19080"]
    servers = re.findall(r"^\s*server\s+\S+\s+(\S+)", config, re.M)
    backends = len(re.findall(r"^backend\s", original, re.M))
    assert servers == ["127.77.1.1:19000", "127.77.1.2:19000", "127.77.1.3:19000"] * backends
    uncommented = [line for line in config.splitlines() if not line.lstrip().startswith("#")]
    assert not any("10.0.1." in line for line in uncommented)

    def settings(text: str) -> list[str]:
        return [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "server ", "bind "))
        ]

    assert settings(config) == settings(original)
