"""The stack: the components wired together, and its outputs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import ClusterConfig, read_config
from infra.fleet import Fleet
from infra.load_balancer import LoadBalancer
from infra.naming import Naming
from infra.network import Network
from infra.registry import Registry
from infra.security import SecurityGroups


@dataclass(frozen=True)
class StackOutputs:
    """What `pulumi stack output` shows (`just outputs NAME`)."""

    alb_url: pulumi.Output[str]
    instance_ips: pulumi.Output[list[str]]
    instance_ids: pulumi.Output[list[str]]
    ecr_repo_url: pulumi.Output[str]

    def export(self) -> None:
        for name in ("alb_url", "instance_ips", "instance_ids", "ecr_repo_url"):
            pulumi.export(name, getattr(self, name))


def build(config: ClusterConfig, stack: str) -> StackOutputs:
    """Declare every resource of the stack `stack` and return its outputs.

    All resources go through one explicit AWS provider in `config.region`, which also tags
    everything it can; each resource carries the same tags explicitly as well.
    """
    naming = Naming(stack)
    provider = aws.Provider(
        naming.name("aws"),
        region=config.region,
        default_tags={"tags": {"Project": naming.tags("aws")["Project"], "Stack": stack}},
    )
    options = pulumi.ResourceOptions(providers={"aws": provider})

    network = Network(naming, opts=options)
    security = SecurityGroups(naming, config, network.vpc_id, opts=options)
    registry = Registry(naming, opts=options)
    fleet = Fleet(
        naming,
        config,
        subnet_id=network.node_subnet_id,
        security_group_id=security.node_group_id,
        repository_arn=registry.repository_arn,
        image_ref=registry.image_ref,
        image_parameter_name=registry.image_parameter,
        image_parameter=registry.parameter,
        opts=options,
    )
    balancer = LoadBalancer(
        naming,
        vpc_id=network.vpc_id,
        subnet_ids=network.alb_subnet_ids,
        security_group_id=security.alb_group_id,
        instances=fleet.instances,
        opts=options,
    )

    return StackOutputs(
        alb_url=balancer.url,
        instance_ips=pulumi.Output.all(*[node.private_ip for node in fleet.instances]),
        instance_ids=pulumi.Output.all(*[node.id for node in fleet.instances]),
        ecr_repo_url=registry.repository_url,
    )


def main() -> None:
    """The Pulumi program: read and validate the config, declare the stack, export."""
    build(read_config(), pulumi.get_stack()).export()
