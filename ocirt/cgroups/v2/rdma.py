"""v2 rdma controller: the same rdma.max file as v1."""

from ocirt.cgroups.v1.rdma import apply

__all__ = ["apply"]
