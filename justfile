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

# Start the ten-node cluster behind 127.0.0.1:8080 (BACKEND=namespaces|docker overrides the pick).
local-up:
    flock /tmp/casty-cluster.lock {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} up

# Remove everything the local cluster made: processes or containers, namespaces, bridge, tables.
local-down:
    {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} down

# Show each node: address, health, members it sees alive, process or container.
local-status:
    {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} status

# Follow the logs of one service (local-logs 3, local-logs alb) or of all of them.
local-logs SERVICE="":
    {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} logs {{SERVICE}}

# ---- chaos (compose/chaos) -------------------------------------------------------------------

# Faults under a checked workload: just chaos [--duration S] [--seed N] [--nemesis kill,...] [--rate R].
chaos *ARGS:
    flock /tmp/casty-cluster.lock {{python}} -m compose.chaos {{ARGS}}

# How long a killed owner's counters stay unavailable, per failure-detection setting (own cluster).
chaos-failover *ARGS:
    flock /tmp/casty-cluster.lock {{python}} -m compose.chaos.failover {{ARGS}}

# ---- load and benchmarks (loadtest/) ---------------------------------------------------------

# ---- AWS (infra/) ----------------------------------------------------------------------------
