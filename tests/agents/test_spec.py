"""The spawn spec survives the bus: dict and JSON round trips, and older specs still load."""

from __future__ import annotations

import json

from pocketstack.agents.compute.drivers.spec import (
    BlockDevices,
    ImageSource,
    InstanceSpec,
    NetworkInterface,
    VolumeConnection,
)


def full_spec() -> InstanceSpec:
    return InstanceSpec(
        uuid="u1", name="instance-00000001", vcpus=2, memory_mb=1024, root_gb=10,
        image=ImageSource(id="img", name="cirros", disk_format="qcow2",
                          container_format="bare", size=123, virtual_size=1 << 30,
                          checksum="abc", properties={"hw_disk_bus": "virtio"},
                          path="/var/lib/images/img"),
        metadata={"k": "v"}, user_data="I2Nsb3VkLWNvbmZpZw==", key_data="ssh-ed25519 AAA",
        hostname="vm1", flavor_name="m1.small", extra_specs={"hw:cpu_policy": "dedicated"},
        network_interfaces=[NetworkInterface(
            port_id="0123456789abcdef", mac_address="fa:16:3e:00:00:01", network_id="n1",
            mtu=1450, network_type="vxlan", segmentation_id=42, vif_type="bridge",
            bridge="brq-n1", vif_details={"port_filter": True},
            fixed_ips=[{"ip_address": "10.0.0.5", "subnet_id": "s1"}])],
        block_devices=BlockDevices(root_gb=10, ephemeral_gb=5, swap_mb=512, volumes=[
            VolumeConnection("vol1", "/dev/vdb", None, "iscsi",
                             {"target_iqn": "iqn.2010-10.org.openstack:vol1", "target_lun": 1},
                             True)]),
        rescue_image=ImageSource(id="rescue", path=None))


def test_round_trip_through_a_dict_and_json() -> None:
    spec = full_spec()
    assert InstanceSpec.from_dict(spec.to_dict()) == spec
    wire = json.loads(json.dumps(spec.to_dict()))  # as the AMQP bus sends it
    assert InstanceSpec.from_dict(wire) == spec


def test_tap_name_defaults_as_the_data_plane_expects() -> None:
    nic = NetworkInterface(port_id="0123456789abcdef", mac_address="fa:16:3e:00:00:02")
    assert nic.devname == "tap0123456789a"
    assert NetworkInterface.from_dict(nic.__dict__ | {"future_field": 1}) == nic


def test_an_older_spec_still_loads() -> None:
    old = {"uuid": "u2", "name": "instance-00000002", "vcpus": 1, "memory_mb": 512,
           "root_gb": 1, "image": {"id": "img"}, "metadata": {}, "user_data": None,
           "key_data": None, "unknown_key": "ignored"}
    spec = InstanceSpec.from_dict(old)
    assert spec.image == ImageSource(id="img")
    assert spec.block_devices == BlockDevices(root_gb=1)
    assert spec.network_interfaces == [] and spec.rescue_image is None
