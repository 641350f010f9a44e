"""v2 hugetlb controller: hugetlb.<size>.max (and .rsvd.max)."""

from __future__ import annotations

import os

from ocirt.cgroups.common import Context, read_int, read_keyed
from ocirt.cgroups.v1.hugetlb import apply_limits


def apply(path: str, res: dict, ctx: Context) -> None:
    apply_limits(path, res, "hugetlb.{}.max", "hugetlb.{}.rsvd.max")


def stats(path: str, st: dict) -> None:
    sizes = sorted({f.split(".")[1] for f in os.listdir(path)
                    if f.startswith("hugetlb.") and f.endswith(".max") and ".rsvd." not in f})
    for size in sizes:
        entry = {"failcnt": read_keyed(path, f"hugetlb.{size}.events").get("max", 0)}
        usage = read_int(path, f"hugetlb.{size}.current")
        if usage:
            entry["usage"] = usage
        st["hugetlb"][size] = entry
