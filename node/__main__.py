"""`python -m node`: read the settings, then serve until SIGTERM.

A bad setting stops the node here, before it listens or dials, with a message naming the
variable, the value and what is allowed, and exit status 2.
"""

from __future__ import annotations

import asyncio
import os
import sys

from node import logs
from node.server import loop_factory, run
from node.settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as error:
        print(f"node: bad setting: {error}", file=sys.stderr)
        return 2
    logs.configure(settings)
    return asyncio.run(run(settings), loop_factory=loop_factory)


if __name__ == "__main__":
    sys.exit(main())
