"""Pulumi's entry point (`pulumi up` in infra/ runs this file as a script).

The program is the package `infra`, importable from tests; run as a script from infra/, this
file puts the repository root on the path first so `infra` and `node.settings` import.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.program import main

main()
