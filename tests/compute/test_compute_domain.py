"""Domain interfaces other compute parts call: instance actions, quotas, instance access,
server groups."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pocketstack.common import exceptions
from pocketstack.common.db import Database
from pocketstack.compute.domain import instance_actions, quotas, server_groups
from pocketstack.compute.domain.instance_access import load_instance
from tests.compute.kit import Harness


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("dom"))
    yield harness
    harness.close()


def test_instance_action_lifecycle(h: Harness) -> None:
    db: Database = h.db
    uid = h.add_instance()
    aid = db.write(instance_actions.start, uid, "create", "req-1", "p-demo", "u-demo")
    db.write(instance_actions.event_start, aid, "compute__do_build_and_run_instance", "c1")
    db.write(instance_actions.event_finish, aid, "compute__do_build_and_run_instance",
             "Success")
    db.write(instance_actions.finish, aid)
    action = db.read(instance_actions.get_by_request_id, uid, "req-1")
    assert action["action"] == "create" and action["finish_time"] is not None
    assert action["message"] is None
    events = db.read(instance_actions.events, aid)
    assert [(e["event"], e["result"], e["host"]) for e in events] == [
        ("compute__do_build_and_run_instance", "Success", "c1")]
    # an error marks the action; an event finished without a start is recorded anyway
    aid2 = db.write(instance_actions.start, uid, "reboot", "req-2", "p-demo", "u-demo")
    db.write(instance_actions.event_finish, aid2, "compute_reboot_instance", "Error", "tb")
    db.write(instance_actions.finish, aid2)
    listed = db.read(instance_actions.list_, uid)
    assert [a["request_id"] for a in listed] == ["req-2", "req-1"]
    assert listed[0]["message"] == "Error"
    with pytest.raises(exceptions.NotFound):
        db.read(instance_actions.get_by_request_id, uid, "req-404")
    with pytest.raises(exceptions.NotFound):
        db.write(instance_actions.finish, 999999)


def test_load_instance_hides_other_projects_and_deleted(h: Harness) -> None:
    uid = h.add_instance(project_id="p-x")
    gone = h.add_instance(project_id="p-x", deleted=True)
    assert h.db.read(load_instance, "p-x", False, uid)["uuid"] == uid
    assert h.db.read(load_instance, "p-other", True, uid)["uuid"] == uid
    with pytest.raises(exceptions.NotFound):
        h.db.read(load_instance, "p-other", False, uid)
    with pytest.raises(exceptions.NotFound):
        h.db.read(load_instance, "p-x", False, gone)
    assert h.db.read(load_instance, "p-x", False, gone, read_deleted=True)["deleted"]


def test_quota_count_and_enforce(h: Harness) -> None:
    for _ in range(2):
        h.add_instance(project_id="p-q", user_id="u-q", vcpus=9, ram=1024)
    h.add_instance(project_id="p-q", user_id="u-q", vcpus=4, deleted=True)
    usage = h.db.read(quotas.count_usage, "p-q", "u-q")
    assert usage["instances"] == 2 and usage["cores"] == 18 and usage["ram"] == 2048
    assert h.db.read(quotas.get_limits, "p-q")["cores"] == 20
    h.db.write(quotas.enforce, "p-q", "u-q", {"instances": 1, "cores": 2, "ram": 512})
    with pytest.raises(quotas.QuotaExceeded) as err:
        h.db.write(quotas.enforce, "p-q", "u-q", {"instances": 1, "cores": 4})
    assert err.value.status == 403
    assert str(err.value) == ("Quota exceeded for cores: Requested 4, but already used 18 of "
                              "20 cores")
    # unlimited and user overrides
    h.db.write(quotas.set_limits, "p-q", None, {"cores": -1})
    h.db.write(quotas.enforce, "p-q", "u-q", {"cores": 400})
    h.db.write(quotas.set_limits, "p-q", "u-q", {"instances": 2}, True)
    assert h.db.read(quotas.get_limits, "p-q", "u-q")["instances"] == 2
    with pytest.raises(quotas.QuotaExceeded):
        h.db.write(quotas.enforce, "p-q", "u-q", {"instances": 1})
    h.db.write(quotas.enforce, "p-q", "u-other", {"instances": 1})
    with pytest.raises(exceptions.BadRequest):
        h.db.write(quotas.set_limits, "p-q", None, {"instances": 1})
    h.db.write(quotas.delete_limits, "p-q")
    assert h.db.read(quotas.get_limits, "p-q", "u-q") == quotas.DEFAULTS


def test_server_group_members_within_quota(h: Harness) -> None:
    h.db.write(quotas.set_limits, "p-g", None, {"server_group_members": 2, "server_groups": 1})
    group = h.db.write(server_groups.create, "p-g", "u-g", "g1", "anti-affinity",
                       {"max_server_per_host": 1})
    with pytest.raises(quotas.QuotaExceeded):
        h.db.write(server_groups.create, "p-g", "u-g", "g2", "affinity")
    a, b, c = (h.add_instance(project_id="p-g", host="c1") for _ in range(3))
    h.db.write(server_groups.add_member, group["uuid"], a)
    h.db.write(server_groups.add_member, group["uuid"], b)
    h.db.write(server_groups.add_member, group["uuid"], b)  # idempotent
    with pytest.raises(quotas.QuotaExceeded):
        h.db.write(server_groups.add_member, group["uuid"], c)
    assert sorted(h.db.read(server_groups.members, group["uuid"])) == sorted([a, b])
    assert h.db.read(server_groups.get, group["uuid"])["rules"] == {"max_server_per_host": 1}
    assert h.db.read(server_groups.hosts, group["uuid"]) == ["c1"]
    h.db.write(server_groups.remove_member, a)
    assert h.db.read(server_groups.members, group["uuid"]) == [b]
    with pytest.raises(exceptions.NotFound):
        h.db.read(server_groups.get, "nope")


@pytest.mark.parametrize(("policy", "rules", "ok", "broken"), [
    ("anti-affinity", {}, "c2", "c1"),
    ("anti-affinity", {"max_server_per_host": 2}, "c1", None),
    ("affinity", {}, "c1", "c2"),
    ("soft-anti-affinity", {}, "c1", None),
])
def test_late_check_of_a_group_placement(h: Harness, policy: str, rules: dict, ok: str,
                                         broken: str | None) -> None:
    """Nova's late check: the placing transaction refuses a host that breaks the group's
    hard policy given where the other members already are."""
    group = h.db.write(server_groups.create, "p-demo", "u-demo", "late", policy, rules)
    placed, placing = h.add_instance(host="c1"), h.add_instance(vm_state="building")
    for uid in (placed, placing):
        h.db.write(server_groups.add_member, group["uuid"], uid)
    h.db.write(server_groups.check_placement, group["uuid"], placing, ok)
    if broken is not None:
        with pytest.raises(server_groups.PolicyViolation) as caught:
            h.db.write(server_groups.check_placement, group["uuid"], placing, broken)
        assert policy in caught.value.message
    # the instance itself never counts against its own placement
    h.db.write(server_groups.check_placement, group["uuid"], placed, "c1")
