"""The program as Pulumi runs it: `infra/__main__.py` as a script from infra/, with stack config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"

# Run in a fresh interpreter from infra/, where `infra` and `node` are not importable until
# __main__.py puts the repository root on the path, as under `pulumi up`.
DRIVER = """
import json, runpy, pulumi

ANSWERS = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": ["eu-west-1a", "eu-west-1b"]},
    "aws:ec2/getAmi:getAmi": {"id": "ami-1"},
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": {"userName": "AWS", "password": "p"},
}
declared = []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        declared.append((args.typ, args.inputs))
        computed = {"repositoryUrl": "repo", "digest": "sha256:0", "dnsName": "alb", "arn": "arn"}
        return args.name + "-id", {**computed, **args.inputs}

    def call(self, args):
        return ANSWERS[args.token], []

pulumi.runtime.set_mocks(Mocks(), project="casty-aws-cluster", stack="dev", preview=False)
pulumi.runtime.set_all_config({"casty-aws-cluster:node_count": "2", "aws:region": "eu-west-1"})

@pulumi.runtime.test
def program():
    runpy.run_path(".", run_name="__main__")
    return pulumi.Output.from_input(None)

program()
print(json.dumps(declared))
"""


def test_pulumi_up_runs_the_program_with_the_stack_config() -> None:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER], cwd=INFRA, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    declared = json.loads(done.stdout.strip().splitlines()[-1])
    instances = [inputs for type_, inputs in declared if type_ == "aws:ec2/instance:Instance"]
    assert sorted(node["privateIp"] for node in instances) == ["10.0.1.10", "10.0.1.11"]
    (provider,) = [inputs for type_, inputs in declared if type_ == "pulumi:providers:aws"]
    assert provider["region"] == "eu-west-1"


def test_a_bad_stack_config_stops_the_program_with_the_key_named() -> None:
    driver = DRIVER.replace('"2"', '"12"')
    done = subprocess.run(
        [sys.executable, "-c", driver], cwd=INFRA, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "config node_count is 12" in done.stderr
