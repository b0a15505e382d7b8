"""Runs the Pulumi program on Pulumi's mocks and hands back what it declared, as plain data.

`deploy(config)` runs `infra.program.build` inside a `@pulumi.runtime.test` function that
returns the stack's outputs, so the runtime waits for every registration and every output.
The tests then assert on plain Python data, outside any `apply`: an assertion cannot be
skipped by an output that never resolves. Every invoke the program makes must be one of
`INVOKES`; any other fails the run instead of answering empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

from infra.config import ClusterConfig
from infra.naming import PROJECT
from infra.program import build

ACCOUNT = "123456789012"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
AMI = "ami-0123456789abcdef0"


def _zones(args: dict[str, Any]) -> dict[str, Any]:
    return {"names": ZONES, "zoneIds": ["use1-az1", "use1-az2", "use1-az4"], "id": "us-east-1"}


def _ami(args: dict[str, Any]) -> dict[str, Any]:
    return {"id": AMI, "imageId": AMI, "architecture": "x86_64", "name": "al2023-ami-2023.6"}


def _token(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "userName": "AWS",
        "password": "mock-ecr-password",
        "authorizationToken": "QVdTOm1vY2s=",
        "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
        "id": "us-east-1",
    }


INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _zones,
    "aws:ec2/getAmi:getAmi": _ami,
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": _token,
}


@dataclass
class Declared:
    """One resource the program declared: its type, name, inputs (camelCase) and options."""

    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str = ""
    parent_type: str | None = None
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)


class CloudMocks(pulumi.runtime.Mocks):
    """Answers registrations with their inputs plus the outputs AWS would compute."""

    def __init__(self, digest: str) -> None:
        self.digest = digest
        self.declared: dict[str, Declared] = {}
        self.invokes: list[str] = []
        self.invoke_providers: list[str] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        name = args.name
        match args.typ:
            case "aws:ecr/repository:Repository":
                state |= {
                    "name": name,
                    "registryId": ACCOUNT,
                    "repositoryUrl": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{name}",
                }
            case "docker-build:index:Image":
                state |= {"digest": self.digest, "ref": f"{state['tags'][0]}@{self.digest}"}
            case "aws:lb/loadBalancer:LoadBalancer":
                state |= {"dnsName": f"{name}-1234.us-east-1.elb.amazonaws.com"}
            case "aws:iam/role:Role" | "aws:iam/instanceProfile:InstanceProfile":
                state |= {"name": name}
            case _:
                pass
        state.setdefault("arn", f"arn:aws:mock:us-east-1:{ACCOUNT}:{name}")
        if name in self.declared:
            raise ValueError(f"two resources are named {name}: names must be unique in a stack")
        self.declared[name] = Declared(
            args.typ, name, dict(args.inputs), bool(args.custom), provider=args.provider or ""
        )
        return f"{name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.invokes.append(args.token)
        self.invoke_providers.append(args.provider)
        if args.token not in INVOKES:
            raise KeyError(f"the program invoked {args.token}, which the mocks do not answer")
        return INVOKES[args.token](args.args), []


class RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping the options Pulumi's mocks leave out of `new_resource`."""

    def __init__(self, mocks: CloudMocks) -> None:
        super().__init__(mocks)
        self.cloud = mocks
        self.options: dict[str, tuple[str, bool, list[str], list[str]]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.options[request.name] = (
            request.parent,
            bool(request.deleteBeforeReplace),
            list(request.ignoreChanges),
            list(request.dependencies),
        )
        return super().RegisterResource(request)


@dataclass
class Deployment:
    """What one run of the program declared, invoked and exported."""

    resources: list[Declared]
    outputs: dict[str, Any]
    invokes: list[str]
    invoke_providers: list[str]

    def of_type(self, type_: str) -> list[Declared]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Declared:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
        return matches[0]

    @property
    def instances(self) -> list[Declared]:
        nodes = self.of_type("aws:ec2/instance:Instance")
        return sorted(nodes, key=lambda node: int(node.name.rsplit("-", 1)[1]))


def deploy(config: ClusterConfig, *, digest: str = DIGEST_A, stack: str = "test") -> Deployment:
    """Run the program for `config` on the mocks; raises what the program raises.

    Pulumi's runtime makes its futures on the thread's current event loop, which an async test
    run before may have closed and unset: each deployment gets a loop of its own.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return _deploy(config, digest, stack)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _deploy(config: ClusterConfig, digest: str, stack: str) -> Deployment:
    mocks = CloudMocks(digest)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        stack_outputs = build(config, stack)
        everything = pulumi.Output.all(
            alb_url=stack_outputs.alb_url,
            instance_ips=stack_outputs.instance_ips,
            instance_ids=stack_outputs.instance_ids,
            ecr_repo_url=stack_outputs.ecr_repo_url,
        )
        return everything.apply(outputs.update)

    program()
    assert set(outputs) == {"alb_url", "instance_ips", "instance_ids", "ecr_repo_url"}, outputs

    urn_types = {urn.rsplit("::", 1)[1]: urn.split("::")[2] for urn in monitor.resources}
    resources = []
    for name, declared in mocks.declared.items():
        parent, dbr, ignore, dependencies = monitor.options[name]
        declared.parent_type = parent.split("::")[2].split("$")[-1] if parent else None
        declared.delete_before_replace = dbr
        declared.ignore_changes = ignore
        declared.dependencies = [urn.rsplit("::", 1)[1] for urn in dependencies]
        assert name in urn_types, f"{name} was declared but never registered"
        resources.append(declared)
    return Deployment(
        resources=resources,
        outputs=outputs,
        invokes=mocks.invokes,
        invoke_providers=mocks.invoke_providers,
    )
