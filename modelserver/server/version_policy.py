"""Which versions of a model to serve: TF Serving's ``ServableVersionPolicy``.

``config/file_system_storage_path_source.proto``: ``latest { num_versions: N }`` (the default, N = 1),
``all {}`` or ``specific { versions: [...] }``. The policy only chooses the *aspired* versions among
those found on disk; the registry loads them and applies the availability-preserving transition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

LATEST, ALL, SPECIFIC = "latest", "all", "specific"


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """A version policy.

    Attributes:
        kind: "latest", "all" or "specific".
        num_versions: for "latest", how many of the highest versions to serve.
        versions: for "specific", the versions to serve.
    """

    kind: str = LATEST
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    @classmethod
    def from_proto(cls, policy) -> VersionPolicy:
        """From a ``FileSystemStoragePathSourceConfig.ServableVersionPolicy``; unset means latest 1."""
        choice = policy.WhichOneof("policy_choice")
        if choice == SPECIFIC:
            return cls(SPECIFIC, versions=tuple(sorted(set(policy.specific.versions))))
        if choice == ALL:
            return cls(ALL)
        if choice == LATEST:
            return cls(LATEST, num_versions=max(1, policy.latest.num_versions))  # 0 means the default
        return cls()

    def aspired(self, available: Iterable[int]) -> set[int]:
        """The versions to serve, out of those present on disk."""
        available = sorted(available)
        if self.kind == ALL:
            return set(available)
        if self.kind == SPECIFIC:
            return set(available) & set(self.versions)
        return set(available[-self.num_versions :])

    def __str__(self) -> str:
        if self.kind == SPECIFIC:
            return f"specific {list(self.versions)}"
        return "all" if self.kind == ALL else f"latest {self.num_versions}"
