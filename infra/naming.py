"""Names and tags derived from one base, so every resource of a stack is found by its tags."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "casty-aws-cluster"
"""The Pulumi project name (`Pulumi.yaml`); config keys are `casty-aws-cluster:<key>`."""

FLEET_TAG = "CastyFleet"
"""Tag key that marks the fleet's instances; the rolling-update association targets it."""


@dataclass(frozen=True)
class Naming:
    """The base name of one stack's resources (`casty-<stack>`) and the tags they all carry."""

    stack: str

    @property
    def base(self) -> str:
        return f"casty-{self.stack}"

    def name(self, suffix: str) -> str:
        """The logical name of a resource: the base, a dash, what it is."""
        return f"{self.base}-{suffix}"

    def tags(self, suffix: str, **extra: str) -> dict[str, str]:
        """The tags of the resource named `suffix`: Name, Project, Stack, ManagedBy and `extra`."""
        return {
            "Name": self.name(suffix),
            "Project": PROJECT,
            "Stack": self.stack,
            "ManagedBy": "pulumi",
            **extra,
        }
