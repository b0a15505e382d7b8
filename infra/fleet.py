"""The fleet: `node_count` EC2 instances at 10.0.1.(10+i), their role, and the rolling update.

Replacement. Each node has a static private address, so a replacement created before its
predecessor is gone would fail with `InvalidIPAddress.InUse`: instances are deleted before they
are replaced. A new Amazon Linux AMI does not replace them (`ignore_changes=["ami"]`); a node
picks up a newer AMI only when it is replaced for another reason.

Image changes. The user data holds no image reference. A booting node reads it from the SSM
parameter of `registry.py`; running nodes get a new image from one SSM association, which runs
`casty-node-update <repository@digest>` on the fleet one node at a time (`max_concurrency` 1)
and stops at the first node that does not come back healthy (`max_errors` 0). A push therefore
updates the parameter and the association, and replaces no instance.

A change to a node's environment (its user data) does replace that node: every node whose
environment changed is replaced in the same `pulumi up`, at once, and so are the nodes a
smaller `node_count` removes. That is a limit: roll such a change node by node with
`just deploy --target <urn of the node> --target-dependents`.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.config import ClusterConfig
from infra.naming import FLEET_TAG, Naming
from infra.node_env import SUBNET, node_environment
from infra.user_data import UPDATE_SCRIPT_PATH, render_user_data
from node.settings import node_address

ROLLOUT_TIMEOUT_S = 900
"""How long `casty-node-update` may take on one node (pull, drain, start, /health)."""


def rollout_command(image_ref: str) -> str:
    """The association's shell command: wait for the node's user data, then run `image_ref`."""
    # cloud-init status --wait: on a new node the association can arrive before the user data
    # has installed Docker and the update script. Its status is not fatal here: the script
    # itself fails if the node is not set up.
    return f"cloud-init status --wait >/dev/null || true; {UPDATE_SCRIPT_PATH} '{image_ref}'"


class Fleet(pulumi.ComponentResource):
    """The nodes, their instance role, and the association that rolls a new image over them."""

    instances: list[aws.ec2.Instance]

    def __init__(
        self,
        naming: Naming,
        config: ClusterConfig,
        *,
        subnet_id: pulumi.Input[str],
        security_group_id: pulumi.Input[str],
        repository_arn: pulumi.Input[str],
        image_ref: pulumi.Input[str],
        image_parameter_name: str,
        image_parameter: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("casty:aws:Fleet", naming.name("fleet"), None, opts)
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            naming.name("node-role"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            description="casty node: pull the node image, be managed by Session Manager",
            tags=naming.tags("node-role"),
            opts=child,
        )

        # Session Manager and SSM Run Command (the rolling update); this managed policy also
        # grants ssm:GetParameter, which the node uses to read the image parameter.
        aws.iam.RolePolicyAttachment(
            naming.name("node-ssm"),
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            opts=child,
        )

        # Pull from this repository only (the managed ECR read-only policy covers every one).
        aws.iam.RolePolicy(
            naming.name("node-ecr-pull"),
            role=role.id,
            policy=pulumi.Output.from_input(repository_arn).apply(_ecr_pull_policy),
            opts=child,
        )

        profile = aws.iam.InstanceProfile(
            naming.name("node-profile"),
            role=role.name,
            tags=naming.tags("node-profile"),
            opts=child,
        )

        ami = aws.ec2.get_ami_output(
            most_recent=True,
            owners=["amazon"],
            filters=[
                {"name": "name", "values": ["al2023-ami-2023.*-x86_64"]},
                {"name": "architecture", "values": ["x86_64"]},
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )

        node_options = pulumi.ResourceOptions(
            parent=self,
            delete_before_replace=True,
            ignore_changes=["ami"],
            depends_on=[image_parameter, profile],
        )
        self.instances = []
        for index in range(config.node_count):
            suffix = f"node-{index}"
            environment = node_environment(index, config.node_count, cluster_name=naming.base)
            instance = aws.ec2.Instance(
                naming.name(suffix),
                ami=ami.id,
                instance_type=config.instance_type,
                subnet_id=subnet_id,
                private_ip=node_address(SUBNET, index),
                associate_public_ip_address=True,
                vpc_security_group_ids=[security_group_id],
                iam_instance_profile=profile.name,
                key_name=config.key_name,
                # IMDSv2 only. A hop limit of 1 is enough: the container shares the host's
                # network namespace (--network=host), so metadata is one hop away.
                metadata_options={
                    "http_endpoint": "enabled",
                    "http_tokens": "required",
                    "http_put_response_hop_limit": 1,
                },
                root_block_device={
                    "encrypted": True,
                    "volume_type": "gp3",
                    "volume_size": 16,
                    "delete_on_termination": True,
                    "tags": naming.tags(f"{suffix}-root"),
                },
                user_data=render_user_data(
                    environment,
                    region=config.region,
                    image_parameter=image_parameter_name,
                ),
                user_data_replace_on_change=True,
                tags=naming.tags(suffix, **{FLEET_TAG: naming.base, "NodeIndex": str(index)}),
                opts=node_options,
            )
            self.instances.append(instance)

        # The rolling update: on creation and on every change of image_ref, SSM runs the update
        # on each node of the fleet in turn, and new nodes get it when they register.
        self.rollout = aws.ssm.Association(
            naming.name("rollout"),
            name="AWS-RunShellScript",
            association_name=naming.name("rollout"),
            targets=[{"key": f"tag:{FLEET_TAG}", "values": [naming.base]}],
            parameters={
                "commands": pulumi.Output.from_input(image_ref).apply(rollout_command),
                "executionTimeout": str(ROLLOUT_TIMEOUT_S),
            },
            # Created or updated, an association runs at once on its targets (see AWS's
            # UpdateAssociation, ApplyOnlyAtCronInterval): here one node at a time, stopping at
            # the first failure.
            apply_only_at_cron_interval=False,
            max_concurrency="1",
            max_errors="0",
            tags=naming.tags("rollout"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.instances),
        )

        self.register_outputs({"instance_ids": [i.id for i in self.instances]})


def _ecr_pull_policy(repository_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Login",
                    "Effect": "Allow",
                    "Action": "ecr:GetAuthorizationToken",
                    "Resource": "*",
                },
                {
                    "Sid": "PullNodeImage",
                    "Effect": "Allow",
                    "Action": [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    "Resource": repository_arn,
                },
            ],
        }
    )
