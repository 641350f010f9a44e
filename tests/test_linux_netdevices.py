"""linux.netDevices (config-linux.md "Network Devices"): a host interface is
moved into the container's network namespace, renamed if asked, with its
permanent global addresses, and up; a taken name is refused before anything
moves; the runtime never moves it back.

Each test makes a veth pair on the host (this kernel has no dummy module)
and removes whatever is left of it afterwards.
"""
from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from testlib import IS_ROOT, run_ocirt

ADDR4, ADDR6, MTU = "10.213.7.1/24", "fd00:213::1/64", 1300


def ip(*args: str, netns_pid: int | None = None) -> subprocess.CompletedProcess:
    prefix = ["nsenter", "-t", str(netns_pid), "-n"] if netns_pid else []
    return subprocess.run(prefix + ["ip", *args], capture_output=True, text=True)


def host_has(name: str) -> bool:
    return ip("link", "show", name).returncode == 0


def gone_from_host(*names: str, timeout: float = 5) -> bool:
    """True once none of names is on the host.  A network namespace is torn
    down by a kernel worker after its last process exits, so a veth peer
    lingers for a moment after the container is gone."""
    deadline = time.monotonic() + timeout
    while any(host_has(n) for n in names):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def veth():
    """(moved end, peer): the moved end carries an IPv4 and an IPv6 address and MTU 1300."""
    if not IS_ROOT:
        pytest.skip("needs root")
    tag = uuid.uuid4().hex[:6]
    end, peer = f"ocA{tag}", f"ocB{tag}"
    for cmd in (["link", "add", end, "type", "veth", "peer", "name", peer],
                ["addr", "add", ADDR4, "dev", end],
                ["addr", "add", ADDR6, "dev", end, "nodad"],
                ["link", "set", end, "mtu", str(MTU)]):
        r = ip(*cmd)
        if r.returncode != 0:
            ip("link", "del", end)
            pytest.skip(f"cannot set up a veth pair: {r.stderr.strip()}")
    yield end, peer
    for name in (end, peer):
        if host_has(name):
            ip("link", "del", name)


def with_devices(bundle, devices: dict):
    bundle.config["linux"]["netDevices"] = devices
    return bundle


def assert_configured(text: str, name: str) -> None:
    """`ip addr show` output of the moved interface."""
    assert f" {name}:" in text or f" {name}@" in text, text  # veth: "ctr0@if25:"
    assert f"inet {ADDR4}" in text, text
    assert f"inet6 {ADDR6}" in text, text
    assert f"mtu {MTU}" in text, text
    flags = text.split("<", 1)[1].split(">", 1)[0].split(",")
    assert "UP" in flags, text


def test_moved_renamed_with_addresses_and_up(ocirt, bundle, veth):
    end, peer = veth
    with_devices(bundle, {end: {"name": "ctr0"}}).sh(f"ip addr show dev ctr0; ip link show {end} || echo no-old-name")
    r = ocirt.run(bundle)
    assert r.returncode == 0, r
    assert_configured(r.stdout, "ctr0")
    assert "no-old-name" in r.stdout
    # the namespace is gone: a virtual device goes with it, nothing came back
    assert gone_from_host(end, peer)


def test_sysctl_naming_the_moved_device_applies(ocirt, bundle, veth):
    """The init applies sysctls only once the runtime has moved the devices
    in (NET_READY): a sysctl for the device's own conf dir must find it."""
    end, peer = veth
    bundle.config["linux"]["sysctl"] = {"net.ipv4.conf.ctr0.forwarding": "1"}
    with_devices(bundle, {end: {"name": "ctr0"}}).sh("cat /proc/sys/net/ipv4/conf/ctr0/forwarding")
    for attempt in range(5):  # a race shows only sometimes: try a few times
        if attempt:
            assert gone_from_host(end, peer)
            assert ip("link", "add", end, "type", "veth", "peer", "name", peer).returncode == 0
        r = ocirt.run(bundle)
        assert r.returncode == 0, r
        assert r.stdout.strip() == "1", r


def test_moved_without_name_keeps_host_name(ocirt, bundle, veth):
    end, _peer = veth
    r = ocirt.run(with_devices(bundle, {end: {}}).sh(f"ip addr show dev {end}"))
    assert r.returncode == 0, r
    assert_configured(r.stdout, end)


def test_template_name_gets_a_free_number(ocirt, bundle, veth):
    end, _peer = veth
    r = ocirt.run(with_devices(bundle, {end: {"name": "ctr%d"}}).sh("ip addr show dev ctr0"))
    assert r.returncode == 0, r
    assert_configured(r.stdout, "ctr0")


def test_device_leaves_host_at_create_and_is_not_moved_back(ocirt, bundle, veth):
    end, peer = veth
    with_devices(bundle, {end: {"name": "ctr0"}}).sh("sleep 30").write()
    cid = ocirt.new_id()
    r = run_ocirt("create", "--bundle", str(bundle.path), cid)
    assert r.returncode == 0, r
    pid = json.loads(run_ocirt("state", cid).stdout)["pid"]
    assert not host_has(end)
    seen = ip("addr", "show", "dev", "ctr0", netns_pid=pid)
    assert seen.returncode == 0, seen
    assert_configured(seen.stdout, "ctr0")
    assert run_ocirt("delete", "--force", cid).returncode == 0
    assert not host_has(end) and not host_has("ctr0") and not host_has(peer)


def test_device_stays_in_a_joined_namespace_after_delete(ocirt, bundle, veth):
    """no-lifecycle: the runtime leaves the interface to the namespace's owner."""
    end, _peer = veth
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        for _ in range(100):
            if ip("link", "show", netns_pid=holder.pid).stdout.count(": ") == 1:  # lo only: unshared
                break
            time.sleep(0.02)
        bundle.config["linux"]["namespaces"] = [
            n for n in bundle.config["linux"]["namespaces"] if n["type"] != "network"] + [
            {"type": "network", "path": f"/proc/{holder.pid}/ns/net"}]
        r = ocirt.run(with_devices(bundle, {end: {"name": "kept0"}}).sh("ip link show kept0"))
        assert r.returncode == 0, r
        after = ip("addr", "show", "dev", "kept0", netns_pid=holder.pid)
        assert after.returncode == 0, after
        assert_configured(after.stdout, "kept0")
        assert not host_has(end)
    finally:
        holder.kill()
        holder.wait()


def test_taken_name_is_refused_before_moving(ocirt, bundle, veth):
    end, _peer = veth
    r = ocirt.run(with_devices(bundle, {end: {"name": "lo"}}))
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r
    assert f"linux.netDevices['{end}']" in r.stderr and "'lo'" in r.stderr, r
    still = ip("addr", "show", "dev", end)
    assert still.returncode == 0 and f"inet {ADDR4}" in still.stdout, still


def test_two_devices_cannot_take_one_name(ocirt, bundle, veth):
    end, peer = veth
    r = ocirt.run(with_devices(bundle, {end: {"name": "same0"}, peer: {"name": "same0"}}))
    assert r.returncode != 0 and "'same0'" in r.stderr, r
    assert host_has(end) and host_has(peer)


def test_unknown_host_device_is_refused(ocirt, bundle):
    r = ocirt.run(with_devices(bundle, {"ocNoSuch0": {}}))
    assert r.returncode != 0
    assert "linux.netDevices['ocNoSuch0']" in r.stderr and "no interface" in r.stderr, r


@pytest.mark.parametrize("devices,where", [
    ({"ok0": {"name": "a/b"}}, "linux.netDevices['ok0'].name"),
    ({"ok0": {"name": "x" * 16}}, "linux.netDevices['ok0'].name"),
    ({"..": {}}, "linux.netDevices['..']"),
])
def test_invalid_names_are_config_errors(ocirt, bundle, devices, where):
    r = ocirt.run(with_devices(bundle, devices))
    assert r.returncode != 0 and where in r.stderr and "valid interface name" in r.stderr, r


def test_needs_a_network_namespace(ocirt, bundle, veth):
    end, _peer = veth
    bundle.config["linux"]["namespaces"] = [
        n for n in bundle.config["linux"]["namespaces"] if n["type"] != "network"]
    r = ocirt.run(with_devices(bundle, {end: {}}))
    assert r.returncode != 0 and "network namespace" in r.stderr, r
    assert host_has(end)
