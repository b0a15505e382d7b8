"""The resource graph on Pulumi's mocks: every property the issue asks of the AWS stack."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pulumi_aws as aws
import pytest

from infra.config import ClusterConfig
from infra.naming import FLEET_TAG
from infra.node_env import (
    ALB_IDLE_TIMEOUT_S,
    DEREGISTRATION_DELAY_S,
    DRAIN_SECONDS,
    KEEP_ALIVE_S,
    STOP_TIMEOUT_S,
)
from infra.registry import IMAGES_KEPT, ROOT
from tests.infra.mock_cloud import DIGEST_A, DIGEST_B, INVOKES, ZONES, Deployment, deploy

INSTANCE = "aws:ec2/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
COMPONENTS = {
    "casty:aws:Network",
    "casty:aws:SecurityGroups",
    "casty:aws:Registry",
    "casty:aws:Fleet",
    "casty:aws:LoadBalancer",
}
UNTAGGABLE = {
    "aws:ec2/routeTableAssociation:RouteTableAssociation": aws.ec2.RouteTableAssociationArgs,
    "aws:iam/rolePolicy:RolePolicy": aws.iam.RolePolicyArgs,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": aws.iam.RolePolicyAttachmentArgs,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": aws.ecr.LifecyclePolicyArgs,
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": aws.lb.TargetGroupAttachmentArgs,
    "pulumi:providers:aws": aws.ProviderArgs,
}
"""Resource types that take no `tags` argument. The docker-build Image's `tags` are image tags
(repository:tag strings), so it carries OCI labels instead and is checked apart."""


def rule_table(stack: Deployment) -> set[tuple[str, str, int, str]]:
    """Every security group rule as (group, direction, port, peer), peers by name or CIDR."""
    rules = set()
    for direction, type_ in (("in", INGRESS), ("out", EGRESS)):
        for rule in stack.of_type(type_):
            inputs = rule.inputs
            assert inputs["ipProtocol"] == "tcp", f"{rule.name}: protocol {inputs['ipProtocol']}"
            assert inputs["fromPort"] == inputs["toPort"], f"{rule.name}: a port range"
            peer = inputs.get("cidrIpv4") or inputs["referencedSecurityGroupId"].removesuffix("-id")
            group = inputs["securityGroupId"].removesuffix("-id")
            rules.add((group, direction, int(inputs["fromPort"]), peer))
    return rules


def test_security_groups_open_exactly_http_to_the_alb_8000_from_it_and_casty_between_nodes(
    default_stack: Deployment,
) -> None:
    assert rule_table(default_stack) == {
        ("casty-test-alb-sg", "in", 80, "0.0.0.0/0"),
        ("casty-test-alb-sg", "out", 8000, "casty-test-nodes-sg"),
        ("casty-test-nodes-sg", "in", 8000, "casty-test-alb-sg"),
        ("casty-test-nodes-sg", "in", 25520, "casty-test-nodes-sg"),
        ("casty-test-nodes-sg", "out", 25520, "casty-test-nodes-sg"),
        ("casty-test-nodes-sg", "out", 443, "0.0.0.0/0"),
    }


def test_security_groups_declare_no_inline_rules(default_stack: Deployment) -> None:
    for group in default_stack.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not group.inputs.get("ingress"), f"{group.name}: inline ingress rules"
        assert not group.inputs.get("egress"), f"{group.name}: inline egress rules"


def test_ssh_opens_only_to_the_given_cidr_when_both_key_and_cidr_are_set(
    default_stack: Deployment, ssh_stack: Deployment
) -> None:
    assert not any(port == 22 for _, _, port, _ in rule_table(default_stack))
    ssh = {rule for rule in rule_table(ssh_stack) if rule[2] == 22}
    assert ssh == {("casty-test-nodes-sg", "in", 22, "203.0.113.7/32")}
    assert all(node.inputs["keyName"] == "ops" for node in ssh_stack.instances)
    assert all("keyName" not in node.inputs for node in default_stack.instances)


def test_a_key_without_a_cidr_installs_the_key_and_opens_no_ssh() -> None:
    stack = deploy(ClusterConfig(key_name="ops"))
    assert not any(port == 22 for _, _, port, _ in rule_table(stack))
    assert all(node.inputs["keyName"] == "ops" for node in stack.instances)


def test_every_node_requires_imdsv2_with_a_hop_limit_of_one(default_stack: Deployment) -> None:
    for node in default_stack.instances:
        metadata = node.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required", f"{node.name}: IMDSv1 allowed"
        assert metadata["httpEndpoint"] == "enabled", f"{node.name}: no metadata endpoint"
        assert metadata["httpPutResponseHopLimit"] == 1, f"{node.name}: hop limit"


def test_every_node_has_an_encrypted_root_volume(default_stack: Deployment) -> None:
    for node in default_stack.instances:
        assert node.inputs["rootBlockDevice"]["encrypted"] is True, f"{node.name}: unencrypted"


@pytest.mark.parametrize("count", [1, 3, 10])
def test_node_count_nodes_sit_at_10_0_1_10_plus_i(count: int) -> None:
    stack = deploy(ClusterConfig(node_count=count))
    addresses = [node.inputs["privateIp"] for node in stack.instances]
    assert addresses == [f"10.0.1.{10 + i}" for i in range(count)]
    assert stack.outputs["instance_ips"] == addresses
    assert len(stack.outputs["instance_ids"]) == count
    assert len(stack.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")) == count


def test_nodes_run_the_configured_instance_type_in_the_node_subnet_with_the_node_group(
    small_stack: Deployment,
) -> None:
    for node in small_stack.instances:
        assert node.inputs["instanceType"] == "t3.small"
        assert node.inputs["subnetId"] == "casty-test-subnet-nodes-id"
        assert node.inputs["vpcSecurityGroupIds"] == ["casty-test-nodes-sg-id"]
        assert node.inputs["iamInstanceProfile"] == "casty-test-node-profile"
        assert node.inputs["associatePublicIpAddress"] is True


def test_subnets_are_the_node_subnet_and_an_alb_subnet_in_two_zones(
    default_stack: Deployment,
) -> None:
    vpc = default_stack.named("casty-test-vpc")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    subnets = {
        subnet.name: (subnet.inputs["cidrBlock"], subnet.inputs["availabilityZone"])
        for subnet in default_stack.of_type("aws:ec2/subnet:Subnet")
    }
    assert subnets == {
        "casty-test-subnet-nodes": ("10.0.1.0/24", ZONES[0]),
        "casty-test-subnet-alb": ("10.0.2.0/24", ZONES[1]),
    }
    alb = default_stack.named("casty-test-alb")
    assert alb.inputs["subnets"] == ["casty-test-subnet-nodes-id", "casty-test-subnet-alb-id"]


def test_the_internet_route_goes_through_the_gateway_and_there_is_no_nat(
    default_stack: Deployment,
) -> None:
    assert not default_stack.of_type("aws:ec2/natGateway:NatGateway")
    assert not default_stack.of_type("aws:ec2/eip:Eip")
    (table,) = default_stack.of_type("aws:ec2/routeTable:RouteTable")
    assert table.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": "casty-test-igw-id"}]
    associated = {
        a.inputs["subnetId"]
        for a in default_stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    assert associated == {"casty-test-subnet-nodes-id", "casty-test-subnet-alb-id"}


def test_the_target_group_checks_health_every_5_s_and_drains_within_the_node_stop(
    default_stack: Deployment,
) -> None:
    (group,) = default_stack.of_type("aws:lb/targetGroup:TargetGroup")
    assert (group.inputs["port"], group.inputs["protocol"]) == (8000, "HTTP")
    check = group.inputs["healthCheck"]
    assert check["path"] == "/health"
    assert check["matcher"] == "200"
    assert check["interval"] == 5
    assert check["timeout"] < check["interval"]
    assert (check["healthyThreshold"], check["unhealthyThreshold"]) == (2, 2)
    delay = group.inputs["deregistrationDelay"]
    assert delay == DEREGISTRATION_DELAY_S <= 60
    # The node keeps failing /health until the ALB has seen enough failed checks ...
    assert check["interval"] * check["unhealthyThreshold"] <= DRAIN_SECONDS
    # ... and docker waits for the whole drain before it kills the container.
    assert STOP_TIMEOUT_S > DRAIN_SECONDS


def test_the_alb_listens_on_80_and_forwards_to_the_nodes(default_stack: Deployment) -> None:
    (listener,) = default_stack.of_type("aws:lb/listener:Listener")
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (80, "HTTP")
    (action,) = listener.inputs["defaultActions"]
    assert action["type"] == "forward"
    assert action["targetGroupArn"].endswith(":casty-test-targets")
    alb = default_stack.named("casty-test-alb")
    assert alb.inputs["loadBalancerType"] == "application"
    assert alb.inputs["internal"] is False
    assert alb.inputs["securityGroups"] == ["casty-test-alb-sg-id"]
    assert alb.inputs["idleTimeout"] == ALB_IDLE_TIMEOUT_S < KEEP_ALIVE_S


def test_every_node_is_a_target_on_port_8000(default_stack: Deployment) -> None:
    targets = {
        attachment.inputs["targetId"]: attachment.inputs["port"]
        for attachment in default_stack.of_type(
            "aws:lb/targetGroupAttachment:TargetGroupAttachment"
        )
    }
    assert targets == {f"casty-test-node-{i}-id": 8000 for i in range(10)}


def test_the_repository_keeps_the_newest_images_and_scans_on_push(
    default_stack: Deployment,
) -> None:
    (repository,) = default_stack.of_type("aws:ecr/repository:Repository")
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    (lifecycle,) = default_stack.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert lifecycle.inputs["repository"] == "casty-test-repo"
    (rule,) = json.loads(lifecycle.inputs["policy"])["rules"]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": IMAGES_KEPT,
    }
    assert rule["action"] == {"type": "expire"}


def test_the_image_is_built_from_the_root_dockerfile_for_amd64_and_pushed_to_the_repository(
    default_stack: Deployment,
) -> None:
    (image,) = default_stack.of_type("docker-build:index:Image")
    assert image.inputs["push"] is True
    assert image.inputs["platforms"] == ["linux/amd64"]
    dockerfile = Path(image.inputs["dockerfile"]["location"]).resolve()
    assert dockerfile == ROOT / "Dockerfile"
    assert dockerfile.is_file()
    assert Path(image.inputs["context"]["location"]).resolve() == ROOT
    (registry,) = image.inputs["registries"]
    assert registry["address"] == default_stack.outputs["ecr_repo_url"]
    assert image.inputs["tags"] == [f"{default_stack.outputs['ecr_repo_url']}:test"]


def test_nodes_run_the_image_by_digest_from_the_ssm_parameter(default_stack: Deployment) -> None:
    (parameter,) = default_stack.of_type("aws:ssm/parameter:Parameter")
    assert (
        parameter.inputs["insecureValue"] == f"{default_stack.outputs['ecr_repo_url']}@{DIGEST_A}"
    )
    for node in default_stack.instances:
        assert f"--name {parameter.inputs['name']}" in node.inputs["userData"]
        assert "casty-test-image-ref" in node.dependencies, f"{node.name} may boot before it"
        assert ":latest" not in node.inputs["userData"]


def test_a_new_image_changes_no_user_data_and_rolls_one_node_at_a_time() -> None:
    before, after = (
        deploy(ClusterConfig(), digest=DIGEST_A),
        deploy(ClusterConfig(), digest=DIGEST_B),
    )
    for old, new in zip(before.instances, after.instances, strict=True):
        assert old.inputs["userData"] == new.inputs["userData"], f"{old.name} would be replaced"
    (rollout,) = after.of_type("aws:ssm/association:Association")
    assert DIGEST_B in rollout.inputs["parameters"]["commands"]
    assert DIGEST_A in before.named("casty-test-rollout").inputs["parameters"]["commands"]
    assert rollout.inputs["name"] == "AWS-RunShellScript"
    assert rollout.inputs["maxConcurrency"] == "1"
    assert rollout.inputs["maxErrors"] == "0"
    assert rollout.inputs["applyOnlyAtCronInterval"] is False
    assert rollout.inputs["targets"] == [{"key": f"tag:{FLEET_TAG}", "values": ["casty-test"]}]
    assert all(node.inputs["tags"][FLEET_TAG] == "casty-test" for node in after.instances)


def test_a_node_is_deleted_before_its_replacement_and_a_new_ami_replaces_none(
    default_stack: Deployment,
) -> None:
    for node in default_stack.instances:
        assert node.delete_before_replace, (
            f"{node.name} would collide on {node.inputs['privateIp']}"
        )
        assert node.ignore_changes == ["ami"], f"{node.name}: a new AMI would replace every node"


def test_the_node_role_pulls_from_its_repository_only_and_has_session_manager(
    default_stack: Deployment,
) -> None:
    (attachment,) = default_stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"].endswith(":policy/AmazonSSMManagedInstanceCore")
    (policy,) = default_stack.of_type("aws:iam/rolePolicy:RolePolicy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["Login"]["Action"] == "ecr:GetAuthorizationToken"
    assert statements["PullNodeImage"]["Resource"].endswith(":casty-test-repo")
    assert all(not action.endswith("*") for action in statements["PullNodeImage"]["Action"])
    role = default_stack.named("casty-test-node-role")
    principal = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]
    assert principal == {"Service": "ec2.amazonaws.com"}


def test_every_taggable_resource_carries_the_stack_tags_and_its_own_name(
    default_stack: Deployment, ssh_stack: Deployment
) -> None:
    for stack in (default_stack, ssh_stack):
        for resource in stack.resources:
            if not resource.custom or resource.type in UNTAGGABLE:
                continue
            if resource.type == "docker-build:index:Image":
                assert resource.inputs["labels"]["casty.stack"] == "test"
                continue
            tags = resource.inputs.get("tags")
            assert tags, f"{resource.name} ({resource.type}) has no tags"
            assert tags["Name"] == resource.name, f"{resource.name}: Name tag {tags['Name']}"
            assert tags["Project"] == "casty-aws-cluster", f"{resource.name}: Project tag"
            assert tags["Stack"] == "test", f"{resource.name}: Stack tag"
            assert tags["ManagedBy"] == "pulumi", f"{resource.name}: ManagedBy tag"


@pytest.mark.parametrize("type_", sorted(UNTAGGABLE))
def test_the_resources_left_untagged_take_no_tags(type_: str) -> None:
    parameters = inspect.signature(UNTAGGABLE[type_]).parameters
    assert "tags" not in parameters, f"{type_} takes tags: tag it and drop it from UNTAGGABLE"


def test_every_resource_belongs_to_a_component_named_from_the_base(
    default_stack: Deployment,
) -> None:
    components = [r for r in default_stack.resources if not r.custom]
    assert {c.type for c in components} == COMPONENTS
    for resource in default_stack.resources:
        assert resource.name.startswith("casty-test-"), f"{resource.name}: not from the base"
        if resource.custom and resource.type != "pulumi:providers:aws":
            assert resource.parent_type in COMPONENTS, f"{resource.name}: {resource.parent_type}"


def test_every_invoke_is_mocked_and_asks_the_stack_provider_in_the_configured_region(
    default_stack: Deployment,
) -> None:
    assert set(default_stack.invokes) == set(INVOKES)
    for token, provider in zip(default_stack.invokes, default_stack.invoke_providers, strict=True):
        assert "::casty-test-aws::" in provider, f"{token} goes through {provider or 'the default'}"


def test_the_outputs_name_the_alb_url_nodes_and_repository(default_stack: Deployment) -> None:
    outputs = default_stack.outputs
    assert outputs["alb_url"] == "http://casty-test-alb-1234.us-east-1.elb.amazonaws.com"
    assert outputs["instance_ips"] == [f"10.0.1.{10 + i}" for i in range(10)]
    assert outputs["instance_ids"] == [f"casty-test-node-{i}-id" for i in range(10)]
    assert outputs["ecr_repo_url"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/casty-test-repo"


def test_every_aws_resource_goes_through_the_stack_provider(default_stack: Deployment) -> None:
    for resource in default_stack.resources:
        if resource.type.startswith("aws:"):
            assert "::casty-test-aws::" in resource.provider, f"{resource.name}: default provider"


def test_the_provider_deploys_to_the_configured_region() -> None:
    stack = deploy(ClusterConfig(region="eu-west-1"))
    (provider,) = stack.of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    assert '--region "$region"' in stack.instances[0].inputs["userData"]
    assert "region=eu-west-1" in stack.instances[0].inputs["userData"]
