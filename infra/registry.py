"""The registry and the image: an ECR repository, the image built from the root Dockerfile for
linux/amd64 and pushed, and the SSM parameter that names it by digest for the nodes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from infra.naming import Naming

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: the build context, holding the `Dockerfile`."""
IMAGES_KEPT = 10
"""The lifecycle policy keeps this many most recent images, enough to roll back a few pushes."""


def lifecycle_policy() -> str:
    """The repository's lifecycle policy: expire every image but the `IMAGES_KEPT` newest."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the {IMAGES_KEPT} newest images, tagged or not",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": IMAGES_KEPT,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )


class Registry(pulumi.ComponentResource):
    """ECR repository, image and the `/<base>/image` parameter holding `repository@digest`."""

    repository_url: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    image_parameter: str
    parameter: aws.ssm.Parameter

    def __init__(self, naming: Naming, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("casty:aws:Registry", naming.name("registry"), None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # force_delete: `just destroy` removes the repository with its images instead of failing.
        repository = aws.ecr.Repository(
            naming.name("repo"),
            image_tag_mutability="MUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=True,
            tags=naming.tags("repo"),
            opts=child,
        )

        aws.ecr.LifecyclePolicy(
            naming.name("repo-lifecycle"),
            repository=repository.name,
            policy=lifecycle_policy(),
            opts=child,
        )

        token = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )

        # The nodes run the image by digest; the tag is for people browsing the repository.
        # The context path is relative so the stack's state is the same on every machine.
        context = os.path.relpath(ROOT, Path.cwd())
        image = docker_build.Image(
            naming.name("image"),
            context={"location": context},
            dockerfile={"location": os.path.join(context, "Dockerfile")},
            platforms=[docker_build.Platform.LINUX_AMD64],
            push=True,
            build_on_preview=False,
            tags=[repository.repository_url.apply(lambda url: f"{url}:{naming.stack}")],
            labels={"org.opencontainers.image.title": "casty-node", "casty.stack": naming.stack},
            registries=[
                {
                    "address": repository.repository_url,
                    "username": token.user_name,
                    "password": token.password,
                }
            ],
            opts=child,
        )

        image_ref = pulumi.Output.concat(repository.repository_url, "@", image.digest)

        # Where a booting node finds the image to run (see user_data.py). A digest is no secret:
        # insecure_value keeps it readable in previews, where `value` would mask it.
        self.image_parameter = f"/{naming.base}/image"
        self.parameter = aws.ssm.Parameter(
            naming.name("image-ref"),
            name=self.image_parameter,
            type="String",
            insecure_value=image_ref,
            description="The casty node image the fleet runs, as repository@sha256:digest",
            tags=naming.tags("image-ref"),
            opts=child,
        )

        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.image_ref = image_ref
        self.register_outputs({"repository_url": repository.repository_url, "image_ref": image_ref})
