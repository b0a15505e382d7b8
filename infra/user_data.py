"""The user data of a node: install Docker, write the node's environment, run the image.

The image reference (`repository@sha256:...`) is deliberately not in the user data. A node
reads it at boot from an SSM parameter, and a new image reaches running nodes through an SSM
association that runs `casty-node-update` on one node at a time (see `fleet.py`). So the user
data of a node changes only when its environment does, and pushing a new image replaces no
instance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from infra.node_env import HTTP_PORT, STOP_TIMEOUT_S

UPDATE_SCRIPT_PATH = "/usr/local/bin/casty-node-update"
ENV_FILE_PATH = "/etc/casty/node.env"
CONTAINER_NAME = "casty-node"
HEALTH_WAIT_S = 300
"""How long `casty-node-update` waits for the new container's /health before it fails."""

_UPDATE_SCRIPT = """\
#!/bin/bash
# Runs this node's casty container from an image reference (repository@sha256:digest): the
# first argument, or else the fleet's SSM parameter. Does nothing when that image already runs.
# Otherwise it pulls the image, stops the old container (SIGTERM: the node drains and leaves),
# starts the new one and waits for /health to answer 200. It fails after @HEALTH_WAIT@ s without
# it, which stops a rolling update on this node.
set -euo pipefail
region=@REGION@
# A new instance profile can take seconds to work (IAM is eventually consistent), and ECR or
# SSM can refuse a call for a moment: each AWS step is tried up to 10 times, 6 s apart.
retry() {
    for _ in 1 2 3 4 5 6 7 8 9; do
        "$@" && return 0
        sleep 6
    done
    "$@"
}
ecr_login() {
    aws ecr get-login-password --region "$region" \\
        | docker login --username AWS --password-stdin "${ref%%/*}"
}
if [ $# -ge 1 ]; then
    ref="$1"
else
    ref="$(retry aws ssm get-parameter --region "$region" --name @PARAMETER@ \\
        --query Parameter.Value --output text)"
fi
running="$(docker inspect @NAME@ \\
    --format '{{.Config.Image}} {{.State.Running}}' 2>/dev/null || true)"
if [ "$running" = "$ref true" ]; then
    echo "casty-node-update: $ref already runs"
    exit 0
fi
retry ecr_login
retry docker pull "$ref"
docker stop --time @STOP_TIMEOUT@ @NAME@ 2>/dev/null || true
docker rm @NAME@ 2>/dev/null || true
# Host networking: the node binds and advertises the instance's own address, and the
# metadata service stays one hop away (the hop limit of 1 holds).
docker run --detach --name @NAME@ \\
    --network=host --restart=unless-stopped --stop-timeout=@STOP_TIMEOUT@ \\
    --env-file @ENV_FILE@ --log-opt max-size=50m --log-opt max-file=3 \\
    "$ref"
for _ in $(seq @HEALTH_WAIT@); do
    if curl --silent --fail --max-time 2 http://127.0.0.1:@HTTP_PORT@/health >/dev/null; then
        echo "casty-node-update: $ref runs and is healthy"
        exit 0
    fi
    sleep 1
done
echo "casty-node-update: $ref started but /health gave no 200 in @HEALTH_WAIT@ s" >&2
exit 1
"""

_USER_DATA = """\
#!/bin/bash
# casty node @INDEX@: written by infra/user_data.py; the image comes from @PARAMETER@.
set -euo pipefail
dnf install --assumeyes docker
systemctl enable --now docker
install --directory --mode 0755 /etc/casty
cat > @ENV_FILE@ <<'CASTY_NODE_ENV'
@ENV@
CASTY_NODE_ENV
cat > @SCRIPT@ <<'CASTY_NODE_UPDATE'
@UPDATE_SCRIPT@CASTY_NODE_UPDATE
chmod 0755 @SCRIPT@
@SCRIPT@
"""


def update_script(*, region: str, image_parameter: str) -> str:
    """The `casty-node-update` script, for the fleet in `region` reading `image_parameter`."""
    return _fill(
        _UPDATE_SCRIPT,
        REGION=region,
        PARAMETER=image_parameter,
        NAME=CONTAINER_NAME,
        STOP_TIMEOUT=str(STOP_TIMEOUT_S),
        ENV_FILE=ENV_FILE_PATH,
        HEALTH_WAIT=str(HEALTH_WAIT_S),
        HTTP_PORT=str(HTTP_PORT),
    )


def render_env_file(env: Mapping[str, str]) -> str:
    """`env` as Docker's `--env-file` reads it: `KEY=VALUE` lines, taken literally, no quotes.

    Raises `ValueError` for a value Docker would misread (a line break) or a bad name.
    """
    lines = []
    for key, value in env.items():
        if not key.isidentifier() or "\n" in value or "\r" in value:
            raise ValueError(f"node environment: {key}={value!r} cannot be written to an env file")
        lines.append(f"{key}={value}")
    return "\n".join(lines)


def parse_env_file(text: str) -> dict[str, str]:
    """Read an env file as Docker does: `KEY=VALUE` per line, blank lines and `#` lines skipped."""
    env = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def env_file_of(user_data: str) -> str:
    """The env file written by `user_data` (the text of its `CASTY_NODE_ENV` heredoc)."""
    start = user_data.index("<<'CASTY_NODE_ENV'\n") + len("<<'CASTY_NODE_ENV'\n")
    return user_data[start : user_data.index("\nCASTY_NODE_ENV\n", start)]


def render_user_data(env: Mapping[str, str], *, region: str, image_parameter: str) -> str:
    """The user data of the node whose environment is `env`."""
    return _fill(
        _USER_DATA,
        INDEX=env["NODE_INDEX"],
        PARAMETER=image_parameter,
        ENV_FILE=ENV_FILE_PATH,
        ENV=render_env_file(env),
        SCRIPT=UPDATE_SCRIPT_PATH,
        UPDATE_SCRIPT=update_script(region=region, image_parameter=image_parameter),
    )


def _fill(template: str, **values: str) -> str:
    # Placeholders are @NAME@ rather than str.format or string.Template fields: the text is
    # shell, full of the braces and dollars those would claim.
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    left = re.search(r"@[A-Z_]+@", template)
    if left is not None:
        raise ValueError(f"user data: placeholder {left.group()} is left unfilled")
    return template
