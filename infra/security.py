"""The security groups, least privilege: one rule per resource, so each can be read and tested.

| group | direction | port | peer |
|---|---|---|---|
| alb | in | 80 | the internet |
| alb | out | 8000 | the nodes |
| nodes | in | 8000 | the ALB |
| nodes | in, out | 25520 | the nodes (casty's cluster transport) |
| nodes | out | 443 | the internet: ECR, its S3 layers, SSM, the Amazon Linux mirrors |
| nodes | in | 22 | `ssh_cidr`, only when `key_name` and `ssh_cidr` are both set |

DNS (the VPC resolver), the instance metadata service and the Amazon Time Sync Service are
link-local or VPC-provided and not filtered by security groups, so no rule is needed for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import ClusterConfig
from infra.naming import Naming
from infra.node_env import CASTY_PORT, HTTP_PORT

ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class Rule:
    """One TCP port opened on `group`, inbound or outbound, to a CIDR or to a peer group."""

    suffix: str
    group: aws.ec2.SecurityGroup
    inbound: bool
    port: int
    description: str
    cidr: str | None = None
    peer: pulumi.Input[str] | None = None


class SecurityGroups(pulumi.ComponentResource):
    """The ALB's group and the nodes' group, and every rule between them and the world."""

    alb_group_id: pulumi.Output[str]
    node_group_id: pulumi.Output[str]

    def __init__(
        self,
        naming: Naming,
        config: ClusterConfig,
        vpc_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("casty:aws:SecurityGroups", naming.name("security"), None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The groups start empty: the AWS provider removes the allow-all egress rule that EC2
        # adds to a new group, so only the rules below exist.
        alb = aws.ec2.SecurityGroup(
            naming.name("alb-sg"),
            vpc_id=vpc_id,
            description="casty ALB: HTTP in from the internet, out to the nodes' HTTP port",
            tags=naming.tags("alb-sg"),
            opts=child,
        )
        nodes = aws.ec2.SecurityGroup(
            naming.name("nodes-sg"),
            vpc_id=vpc_id,
            description="casty nodes: HTTP from the ALB, the cluster port between nodes",
            tags=naming.tags("nodes-sg"),
            opts=child,
        )

        rules = [
            Rule("alb-http-in", alb, True, 80, "HTTP from the internet", cidr=ANYWHERE),
            Rule("alb-to-nodes", alb, False, HTTP_PORT, "to the nodes' HTTP port", peer=nodes.id),
            Rule("nodes-http-from-alb", nodes, True, HTTP_PORT, "HTTP from the ALB", peer=alb.id),
            Rule("nodes-cluster-in", nodes, True, CASTY_PORT, "casty from nodes", peer=nodes.id),
            Rule("nodes-cluster-out", nodes, False, CASTY_PORT, "casty to nodes", peer=nodes.id),
            Rule("nodes-https-out", nodes, False, 443, "ECR, S3, SSM, mirrors", cidr=ANYWHERE),
        ]
        if config.ssh_enabled:
            rules.append(Rule("nodes-ssh-in", nodes, True, 22, "SSH", cidr=config.ssh_cidr))
        for rule in rules:
            if rule.inbound:
                aws.vpc.SecurityGroupIngressRule(
                    naming.name(rule.suffix),
                    security_group_id=rule.group.id,
                    ip_protocol="tcp",
                    from_port=rule.port,
                    to_port=rule.port,
                    cidr_ipv4=rule.cidr,
                    referenced_security_group_id=rule.peer,
                    description=rule.description,
                    tags=naming.tags(rule.suffix),
                    opts=child,
                )
            else:
                aws.vpc.SecurityGroupEgressRule(
                    naming.name(rule.suffix),
                    security_group_id=rule.group.id,
                    ip_protocol="tcp",
                    from_port=rule.port,
                    to_port=rule.port,
                    cidr_ipv4=rule.cidr,
                    referenced_security_group_id=rule.peer,
                    description=rule.description,
                    tags=naming.tags(rule.suffix),
                    opts=child,
                )

        self.alb_group_id = alb.id
        self.node_group_id = nodes.id
        self.register_outputs({"alb_group_id": alb.id, "node_group_id": nodes.id})
