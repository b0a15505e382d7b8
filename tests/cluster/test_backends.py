"""Choosing a backend, and what each says when it cannot act; no cluster is started here."""

from __future__ import annotations

import pytest

from compose import backend as backends
from compose.__main__ import main
from compose.backend import Backend, ClusterError, open_backend
from compose.docker_backend import DockerBackend
from compose.namespaces import NamespaceBackend


def test_with_neither_root_nor_a_docker_engine_the_runner_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CASTY_BACKEND", raising=False)
    monkeypatch.setattr(backends, "docker_engine_reachable", lambda: False)
    monkeypatch.setattr(backends, "can_run_namespaces", lambda: False)
    with pytest.raises(ClusterError, match=r"Start Docker, or run as root"):
        open_backend()


def test_a_reachable_docker_engine_is_preferred_and_the_name_overrides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CASTY_BACKEND", raising=False)
    monkeypatch.setattr(backends, "docker_engine_reachable", lambda: True)
    assert isinstance(open_backend(), DockerBackend)
    assert isinstance(open_backend("namespaces"), NamespaceBackend)
    monkeypatch.setenv("CASTY_BACKEND", "namespaces")
    assert isinstance(open_backend(), NamespaceBackend)


def test_an_unknown_backend_name_is_refused() -> None:
    with pytest.raises(ClusterError, match="unknown backend 'podman'"):
        open_backend("podman")


def test_both_backends_satisfy_the_backend_protocol_and_publish_the_same_urls() -> None:
    for backend in (open_backend("docker"), open_backend("namespaces")):
        assert isinstance(backend, Backend)
        assert backend.balancer_url == "http://127.0.0.1:8080"
        assert [backend.node_url(i) for i in range(10)] == [
            f"http://127.0.0.1:{8100 + i}" for i in range(10)
        ]


def test_the_docker_backend_refuses_a_split_instead_of_faking_one() -> None:
    with pytest.raises(ClusterError, match="use --backend namespaces"):
        open_backend("docker").split([0, 1], [2, 3])


def test_the_namespace_backend_follows_one_log_file_per_service() -> None:
    follow = open_backend("namespaces").logs_command("node3")
    assert follow[0] == "tail"
    assert follow[-1] == "/run/casty-cluster/logs/node3.log"


def test_a_node_action_on_a_missing_node_names_the_valid_range(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--backend", "namespaces", "kill", "12"]) == 1
    assert "node 12 does not exist: the cluster has nodes 0-9" in capsys.readouterr().err
