"""The load balancer: an internet-facing ALB over both subnets, port 80 to the nodes' 8000.

Health checks on /health every 5 s, two failures to drop a node and two successes to take it
back: a dead node stops getting requests within about 10 s. The node fails /health for
`DRAIN_SECONDS` (15 s) before it stops serving, which covers that. When every target is
unhealthy the ALB fails open and sends requests to all of them anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.naming import Naming
from infra.node_env import (
    ALB_IDLE_TIMEOUT_S,
    DEREGISTRATION_DELAY_S,
    HEALTH_INTERVAL_S,
    HEALTH_TIMEOUT_S,
    HEALTHY_THRESHOLD,
    HTTP_PORT,
    UNHEALTHY_THRESHOLD,
)

LISTENER_PORT = 80


class LoadBalancer(pulumi.ComponentResource):
    """ALB, its listener, the nodes' target group and one attachment per node."""

    url: pulumi.Output[str]

    def __init__(
        self,
        naming: Naming,
        *,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        security_group_id: pulumi.Input[str],
        instances: Sequence[aws.ec2.Instance],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("casty:aws:LoadBalancer", naming.name("load-balancer"), None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The node's keep-alive (75 s) outlives this idle timeout, so the ALB, not the node,
        # closes idle connections and never sends a request on one the node just closed.
        alb = aws.lb.LoadBalancer(
            naming.name("alb"),
            load_balancer_type="application",
            internal=False,
            subnets=list(subnet_ids),
            security_groups=[security_group_id],
            idle_timeout=ALB_IDLE_TIMEOUT_S,
            drop_invalid_header_fields=True,
            tags=naming.tags("alb"),
            opts=child,
        )

        targets = aws.lb.TargetGroup(
            naming.name("targets"),
            port=HTTP_PORT,
            protocol="HTTP",
            target_type="instance",
            vpc_id=vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY_S,
            health_check={
                "enabled": True,
                "path": "/health",
                "port": "traffic-port",
                "protocol": "HTTP",
                "matcher": "200",
                "interval": HEALTH_INTERVAL_S,
                "timeout": HEALTH_TIMEOUT_S,
                "healthy_threshold": HEALTHY_THRESHOLD,
                "unhealthy_threshold": UNHEALTHY_THRESHOLD,
            },
            tags=naming.tags("targets"),
            opts=child,
        )

        aws.lb.Listener(
            naming.name("http"),
            load_balancer_arn=alb.arn,
            port=LISTENER_PORT,
            protocol="HTTP",
            default_actions=[{"type": "forward", "target_group_arn": targets.arn}],
            tags=naming.tags("http"),
            opts=child,
        )

        for index, instance in enumerate(instances):
            # A replaced node gets a new attachment; the old one goes first, so the node is
            # deregistered (in-flight requests get DEREGISTRATION_DELAY_S) before it is deleted.
            aws.lb.TargetGroupAttachment(
                naming.name(f"node-{index}-target"),
                target_group_arn=targets.arn,
                target_id=instance.id,
                port=HTTP_PORT,
                opts=child,
            )

        self.url = alb.dns_name.apply(lambda name: f"http://{name}")
        self.register_outputs({"url": self.url})
