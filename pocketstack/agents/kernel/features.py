"""What this kernel can do that the data plane may need, found by trying it once.

:func:`vlan_support` tries to make an 802.1Q sub-interface on a scratch veth inside a
namespace of the cloud's own (never the machine's): kernels built without ``VLAN_8021Q``
answer ``Unknown device type``. Blocking.
"""

from __future__ import annotations

from pocketstack.agents.kernel import run

_PROBE = "vlprobe0"  # a scratch veth, removed again (with its peer and sub-interface)


def vlan_support(netns: str) -> str | None:
    """None when 802.1Q sub-interfaces can be made in ``netns`` (which must exist), else
    why not."""
    try:
        run.ip_batch([f"link add {_PROBE} type veth peer name {_PROBE}p",
                      f"link add link {_PROBE} name {_PROBE}.9 type vlan id 9"], netns)
    except run.KernelError as exc:
        text = str(exc)
        if "Unknown device type" in text or "not supported" in text.lower():
            return "the kernel has no 802.1Q VLAN support (VLAN_8021Q)"
        return f"a VLAN sub-interface cannot be made: {text}"
    finally:
        run.run(["ip", "link", "del", _PROBE], netns, check=False)
    return None
