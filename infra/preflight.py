"""What `just deploy`, `preview`, `destroy` and `outputs` need, checked before Pulumi runs.

`python -m infra.preflight [--aws] [--docker]` lists every missing piece at once, each with how
to get it, on standard error, and exits with status 2; it prints nothing when all is there, so
`$(just outputs alb_url)` stays a bare value.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

CHECK_TIMEOUT_S = 30


def _runs(command: Sequence[str], env: Mapping[str, str]) -> bool:
    try:
        done = subprocess.run(
            command, env=dict(env), capture_output=True, timeout=CHECK_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _has_aws_credentials(env: Mapping[str, str]) -> bool:
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return True
    if env.get("AWS_PROFILE") or env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return True
    if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    ):
        return True
    home = Path(env.get("HOME", "~")).expanduser()
    files = (env.get("AWS_SHARED_CREDENTIALS_FILE"), env.get("AWS_CONFIG_FILE"))
    candidates = [Path(f) for f in files if f] + [home / ".aws/credentials", home / ".aws/config"]
    return any(path.is_file() for path in candidates)


def problems(*, aws: bool, docker: bool, env: Mapping[str, str]) -> list[str]:
    """Every missing prerequisite, as a sentence saying what is missing and how to get it."""
    path = env.get("PATH", "")
    found: list[str] = []
    if shutil.which("pulumi", path=path) is None:
        found.append(
            "the Pulumi CLI is not on PATH: install it from https://www.pulumi.com/docs/install/"
            " (on Linux: curl -fsSL https://get.pulumi.com | sh), then open a new shell"
        )
    elif not _runs(["pulumi", "whoami"], env):
        found.append(
            "Pulumi is not logged in to a state backend: run `pulumi login` (Pulumi Cloud),"
            " or `pulumi login --local` to keep the state in ~/.pulumi on this machine"
        )
    if shutil.which("uv", path=path) is None:
        found.append(
            "uv is not on PATH: Pulumi runs the program with it (infra/Pulumi.yaml);"
            " install it from https://docs.astral.sh/uv/ and run `just setup`"
        )
    if aws:
        if not _has_aws_credentials(env):
            found.append(
                "no AWS credentials: run `aws configure` (access key) or `aws sso login"
                " --profile NAME` and `export AWS_PROFILE=NAME`, or export AWS_ACCESS_KEY_ID"
                " and AWS_SECRET_ACCESS_KEY"
            )
        elif shutil.which("aws", path=path) is not None and not _runs(
            ["aws", "sts", "get-caller-identity"], env
        ):
            found.append(
                "AWS credentials are set but AWS refuses them (`aws sts get-caller-identity`"
                " fails): they may have expired; run `aws sso login` or `aws configure` again"
            )
    if docker:
        if shutil.which("docker", path=path) is None:
            found.append(
                "the Docker CLI is not on PATH: the node image is built on this machine;"
                " install Docker Engine (or Docker Desktop) with buildx"
            )
        elif not _runs(["docker", "info"], env):
            found.append(
                "no Docker engine answers (`docker info` fails): start Docker, or point"
                " DOCKER_HOST at one; the node image is built and pushed from this machine"
            )
        elif not _runs(["docker", "buildx", "version"], env):
            found.append(
                "Docker has no buildx plugin: install docker-buildx-plugin; the image is"
                " built for linux/amd64 with it"
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.preflight", description=__doc__)
    parser.add_argument("--aws", action="store_true", help="also check AWS credentials")
    parser.add_argument("--docker", action="store_true", help="also check Docker and buildx")
    args = parser.parse_args(argv)
    missing = problems(aws=args.aws, docker=args.docker, env=os.environ)
    for problem in missing:
        print(f"missing: {problem}", file=sys.stderr)
    return 2 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
