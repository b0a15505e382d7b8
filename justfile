# Every command a user runs. `just --list` shows them with their one-line help.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := ".venv/bin/python"

# Show the recipes.
default:
    @just --list

# ---- set-up, node, tests -------------------------------------------------------------------

# Create .venv with every dependency group from the lock (Python 3.13 from the system/pyenv).
setup:
    uv sync --frozen

# Run one node on localhost (NODE_INDEX=0, SEED_IPS=127.0.0.1 unless set).
run:
    NODE_INDEX="${NODE_INDEX:-0}" SEED_IPS="${SEED_IPS:-127.0.0.1}" {{python}} -m node

# Run the whole test suite; root tiers (cluster, chaos) run when invoked as root.
test *ARGS:
    {{python}} -m pytest {{ARGS}}

# Lint, format check and type check.
lint:
    {{python}} -m ruff check .
    {{python}} -m ruff format --check .
    {{python}} -m mypy

# ---- local cluster (compose/) ----------------------------------------------------------------

# ---- chaos (compose/chaos) -------------------------------------------------------------------

# ---- load and benchmarks (loadtest/) ---------------------------------------------------------

# ---- AWS (infra/) ----------------------------------------------------------------------------
