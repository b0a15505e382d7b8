"""The network: a VPC, the node subnet and a second subnet for the ALB, an internet gateway.

No NAT gateway: the nodes reach ECR, SSM and the package mirrors through their own public
IPv4 address, and their security group lets nothing in from outside but what `security.py`
opens. That keeps a NAT gateway's hourly and per-gigabyte charges off the bill.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.naming import Naming
from infra.node_env import SUBNET

VPC_CIDR = "10.0.0.0/16"
NODE_SUBNET_CIDR = SUBNET
ALB_SUBNET_CIDR = "10.0.2.0/24"


class Network(pulumi.ComponentResource):
    """The VPC and two public subnets in two zones: nodes in the first, the ALB over both."""

    vpc_id: pulumi.Output[str]
    node_subnet_id: pulumi.Output[str]
    alb_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, naming: Naming, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("casty:aws:Network", naming.name("network"), None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Two zones that need no opt-in (Local Zones and Wavelength do): an ALB spans two zones.
        zones = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).names.apply(_two_zones)

        vpc = aws.ec2.Vpc(
            naming.name("vpc"),
            cidr_block=VPC_CIDR,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=naming.tags("vpc"),
            opts=child,
        )

        gateway = aws.ec2.InternetGateway(
            naming.name("igw"), vpc_id=vpc.id, tags=naming.tags("igw"), opts=child
        )

        # The nodes, at their static addresses 10.0.1.10+i, in the first zone.
        node_subnet = aws.ec2.Subnet(
            naming.name("subnet-nodes"),
            vpc_id=vpc.id,
            cidr_block=NODE_SUBNET_CIDR,
            availability_zone=zones[0],
            map_public_ip_on_launch=False,
            tags=naming.tags("subnet-nodes"),
            opts=child,
        )

        # The ALB's second leg, in the second zone; no node lives here.
        alb_subnet = aws.ec2.Subnet(
            naming.name("subnet-alb"),
            vpc_id=vpc.id,
            cidr_block=ALB_SUBNET_CIDR,
            availability_zone=zones[1],
            map_public_ip_on_launch=False,
            tags=naming.tags("subnet-alb"),
            opts=child,
        )

        # One public route table: the internet through the gateway, nothing else.
        routes = aws.ec2.RouteTable(
            naming.name("public"),
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags=naming.tags("public"),
            opts=child,
        )
        for suffix, subnet in (("nodes", node_subnet), ("alb", alb_subnet)):
            aws.ec2.RouteTableAssociation(
                naming.name(f"public-{suffix}"),
                subnet_id=subnet.id,
                route_table_id=routes.id,
                opts=child,
            )

        self.vpc_id = vpc.id
        self.node_subnet_id = node_subnet.id
        self.alb_subnet_ids = [node_subnet.id, alb_subnet.id]
        self.register_outputs({"vpc_id": vpc.id, "node_subnet_id": node_subnet.id})


def _two_zones(names: list[str]) -> list[str]:
    if len(names) < 2:
        raise pulumi.RunError(
            f"network: the region offers {len(names)} availability zone(s) without opt-in"
            f" ({', '.join(names) or 'none'}); the ALB needs two"
        )
    return names[:2]
