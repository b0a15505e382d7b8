"""`just deploy` and friends say what is missing and how to get it, before Pulumi runs."""

from __future__ import annotations

from pathlib import Path

from infra.preflight import problems


def stub_bin(tmp_path: Path, **exits: int) -> str:
    """A PATH holding a stub per command, exiting with the given status."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command, status in exits.items():
        stub = bin_dir / command
        stub.write_text(f"#!/bin/sh\nexit {status}\n")
        stub.chmod(0o755)
    return str(bin_dir)


def test_nothing_is_missing_when_every_tool_and_credential_is_there(tmp_path: Path) -> None:
    path = stub_bin(tmp_path, pulumi=0, uv=0, aws=0, docker=0)
    env = {"PATH": path, "HOME": str(tmp_path), "AWS_PROFILE": "ops"}
    assert problems(aws=True, docker=True, env=env) == []


def test_a_bare_machine_is_told_about_pulumi_uv_credentials_and_docker(tmp_path: Path) -> None:
    env = {"PATH": stub_bin(tmp_path), "HOME": str(tmp_path)}
    found = problems(aws=True, docker=True, env=env)
    assert len(found) == 4, found
    assert "Pulumi CLI" in found[0]
    assert "pulumi.com/docs/install" in found[0]
    assert "uv" in found[1]
    assert "no AWS credentials" in found[2]
    assert "aws configure" in found[2]
    assert "Docker CLI" in found[3]


def test_pulumi_without_a_backend_is_told_to_log_in(tmp_path: Path) -> None:
    env = {"PATH": stub_bin(tmp_path, pulumi=1, uv=0), "HOME": str(tmp_path)}
    (found,) = problems(aws=False, docker=False, env=env)
    assert "pulumi login" in found


def test_refused_credentials_and_a_stopped_engine_are_named(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    env = {"PATH": stub_bin(tmp_path, pulumi=0, uv=0, aws=255, docker=1), "HOME": str(tmp_path)}
    found = problems(aws=True, docker=True, env=env)
    assert len(found) == 2, found
    assert "get-caller-identity" in found[0]
    assert "docker info" in found[1]


def test_outputs_need_no_aws_credentials(tmp_path: Path) -> None:
    env = {"PATH": stub_bin(tmp_path, pulumi=0, uv=0), "HOME": str(tmp_path)}
    assert problems(aws=False, docker=False, env=env) == []
