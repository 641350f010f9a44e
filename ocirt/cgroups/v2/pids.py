"""v2 pids controller: the same files as v1."""

from ocirt.cgroups.v1.pids import apply, stats

__all__ = ["apply", "stats"]
