"""The boot scripts of a ``namespace`` driver guest (busybox sh), written into its directory.

* ``init.sh`` is the guest's PID 1: the flavor's vCPUs in ``/proc/cpuinfo``, what a busybox
  cloud image gives a login first on root's PATH (the guest's ``sbin/`` over an empty
  ``/usr/local/sbin``): busybox's ``ip`` and, when the host has none, a ``sudo`` that runs its
  command (Tempest's commands say ``sudo``), private ``/root`` (the guest's own ``root/``),
  ``/var/log``, ``/etc/resolv.conf``, ``/run`` and ``/tmp`` (tmpfs, unless the guest's
  directory lies beneath them; its pid files are in its ``run/``) in its mount
  namespace, the hostname, ``net.sh`` on every interface, the metadata service
  (``169.254.169.254``: public keys for root, hostname, user data — when it does not
  answer, the spec's key and user data, as a config drive would give), dropbear on port
  22 (key logins only), then it reaps orphans until it is told to stop (SIGTERM:
  "reboot: Power down");
* ``net.sh DEV`` sets ``DEV`` up, waits for carrier (the L2 agent sets the host end up) up to
  60 s, then runs ``busybox udhcpc`` with ``udhcpc.sh`` (the boot goes on once it has a lease,
  or after 20 s without one while it keeps trying); its pid file is ``/run/udhcpc.DEV.pid``
  as in a cloud image (``kill -USR1`` renews the lease), in the guest's ``run/`` when its
  ``/run`` is not private;
* ``udhcpc.sh`` is udhcpc's hook: address, MTU, classless static routes (option 121, which
  replaces the router option as RFC 3442 says) or the default route, DNS servers.

Everything they print goes to the guest's ``console.log``. User data runs once per guest, and
only when it is a script (``#!``), as cloud-init runs it.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from pocketstack.agents.compute.drivers.spec import InstanceSpec

q = shlex.quote

METADATA_URL = "http://169.254.169.254/openstack/latest"
CARRIER_WAIT_S = 60
#: DHCP discovers (one a second) before the boot goes on without an address (udhcpc keeps
#: trying in the background)
DHCP_TRIES = 20

_SAY = 'say() { echo "[$(cut -d" " -f1 /proc/uptime)] $*"; }\n'

_INIT = """\
trap 'say "reboot: Power down"; exit 0' TERM
say "Booting $NAME ($UUID) on the pocketstack namespace hypervisor"
mount --bind "$D/root" /root || { say "cannot mount the guest's /root"; exit 1; }
private() {  # a tmpfs over $1, unless the guest's own directory is beneath it
  case "$D/" in "$1"/*) return 1 ;; esac
  mount -t tmpfs -o "mode=$2,size=$3" tmpfs "$1" || { say "warning: $1 is not private"; return 1; }
}
# a private /run holds the pid files where a cloud image has them (/var/run/udhcpc.eth0.pid)
private /run 755 16m && echo "$UUID" > /run/pocketstack-guest
private /tmp 1777 64m
[ -d /var/log ] && mount --bind "$D/log" /var/log
if [ -f /etc/resolv.conf ]; then
  : > "$D/resolv.conf" && mount --bind "$D/resolv.conf" /etc/resolv.conf
fi
# the flavor's vCPUs, as a VM's /proc/cpuinfo shows them (its cpu cgroup gives it as much)
[ -f "$D/cpuinfo" ] && mount --bind "$D/cpuinfo" /proc/cpuinfo
# what a busybox cloud image (cirros) gives a login, first on root's PATH: busybox's ip, and
# a sudo for a root that needs none when the host lacks one (the boot scripts use the host's)
if [ -d /usr/local/sbin ] && [ -z "$(ls -A /usr/local/sbin)" ]; then
  if command -v sudo >/dev/null; then rm -f "$D/sbin/sudo"; fi
  mount --bind "$D/sbin" /usr/local/sbin
fi
hostname "$HOST_NAME" && say "hostname: $HOST_NAME"
ip link set lo up
for dev in $DEVS; do busybox sh "$D/net.sh" "$dev" & done
wait

fetch() {  # retries while the service is not there yet; an HTTP error is an answer
  curl -fsS --connect-timeout 2 --max-time 5 --retry 5 --retry-delay 1 --retry-max-time 15 \\
    --retry-connrefused -o "$2" "$MD/$1"
}
rm -f "$D/meta_data.json" "$D/user_data"
if [ -n "$DEVS" ] && command -v curl >/dev/null && fetch meta_data.json "$D/meta_data.json"
then
  say "metadata: $MD answered"
  meta=$(tr -d '\\n' < "$D/meta_data.json")
  keys=$(echo "$meta" | sed -n 's/.*"public_keys": *{\\([^}]*\\)}.*/\\1/p' \\
         | grep -o '": *"[^"]*"' | sed 's/^": *"//; s/"$//; s/\\\\n$//')
  if [ -n "$keys" ]; then
    echo "$keys" > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
    say "metadata: $(echo "$keys" | wc -l) public key(s) for root"
  fi
  name=$(echo "$meta" | sed -n 's/.*"hostname": *"\\([^"]*\\)".*/\\1/p')
  if [ -n "$name" ]; then hostname "${name%%.*}" && say "hostname: ${name%%.*}"; fi
  fetch user_data "$D/user_data" 2>/dev/null || rm -f "$D/user_data"
  UD="$D/user_data"
else
  say "metadata: no answer; using the instance's own key and user data"
  UD="$D/user_data.local"
fi

dropbear -F -E -s -p 22 -r "$D/dropbear_host_key" -P "$D/run/dropbear.pid" &
say "dropbear: listening on port 22"
dropbearkey -y -f "$D/dropbear_host_key" | grep -i fingerprint | sed 's/^/ssh host key: /'

if [ -s "$UD" ] && [ ! -e "$D/user_data.done" ]; then
  touch "$D/user_data.done"
  if [ "$(head -c 2 "$UD")" = "#!" ]; then
    chmod 700 "$UD"
    say "user data: running"
    PATH="/usr/local/sbin:/usr/local/bin:$PATH" "$UD"  # a login's PATH
    say "user data: exited with $?"
  else
    say "user data: not a script (no #!), skipped"
  fi
fi
say "$(hostname) login:"
while :; do wait; sleep 1; done
"""

_NET = """\
dev=$1
if [ ! -d "/sys/class/net/$dev" ]; then say "$dev: no such interface"; exit 1; fi
ip link set "$dev" up
n=0
while [ "$(cat "/sys/class/net/$dev/carrier" 2>/dev/null)" != 1 ]; do
  n=$((n + 1))
  if [ "$n" -ge $((CARRIER_WAIT * 10)) ]; then
    say "$dev: no carrier after $CARRIER_WAIT s"; exit 1
  fi
  sleep 0.1
done
say "$dev: link up"
piddir="$D/run"
[ "$(cat /run/pocketstack-guest 2>/dev/null)" = "$UUID" ] && piddir=/run
exec busybox udhcpc -i "$dev" -s "$D/udhcpc.sh" -t "$DHCP_TRIES" -T 1 -A 5 -b \\
  -p "$piddir/udhcpc.$dev.pid" -O mtu -O staticroutes
"""

_UDHCPC = """\
dev=$interface
action=$1
case "$action" in
deconfig)
  ip -4 addr flush dev "$dev"
  ip link set "$dev" up
  ;;
bound|renew)
  if [ -n "${mtu:-}" ]; then ip link set dev "$dev" mtu "$mtu"; fi
  if ! ip -4 addr show dev "$dev" | grep -q "inet $ip/$mask "; then
    ip -4 addr flush dev "$dev"
    ip addr add "$ip/$mask" ${broadcast:+broadcast "$broadcast"} dev "$dev"
  fi
  if [ -n "${staticroutes:-}" ]; then
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$dev"
      else ip route replace "$1" via "$2" dev "$dev"; fi
      shift 2
    done
  elif [ -n "${router:-}" ]; then
    for gw in $router; do ip route replace default via "$gw" dev "$dev"; break; done
  fi
  if [ -n "${dns:-}" ] && [ -w /etc/resolv.conf ]; then
    { [ -n "${domain:-}" ] && echo "search $domain"
      for ns in $dns; do echo "nameserver $ns"; done; } > /etc/resolv.conf
  fi
  say "$dev: $action $ip/$mask${mtu:+ mtu $mtu}${router:+ router $router}"
  ;;
leasefail|nak)
  say "$dev: DHCP $action ${message:-}"
  ;;
esac
exit 0
"""


_SUDO = """\
#!/bin/sh
# pocketstack: the guest's user is root already, so sudo runs its command as it is
while [ $# -gt 0 ]; do
  case "$1" in
  -u|-g|-C|-h|-p|-U) shift 2 ;;
  --) shift; break ;;
  -*) shift ;;
  *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: sudo COMMAND [ARG...]" >&2; exit 1; }
exec "$@"
"""


# the guest's own disks, as lsblk lists them: its private /dev (made when a volume is first
# attached, marked by .pocketstack-guest) holds a block node per attached volume; the host's
# lsblk would list the machine's disks instead (its /sys/block)
_LSBLK = """\
#!/bin/sh
# pocketstack: the guest's disks are the block nodes of its own /dev (attached volumes)
row() { printf '%-8s %-7s %2s %14s %2s %-4s %s\\n' "$@"; }
row NAME MAJ:MIN RM SIZE RO TYPE MOUNTPOINTS
[ -e /dev/.pocketstack-guest ] || exit 0
for dev in /dev/vd[a-z] /dev/vd[a-z][a-z]; do
  [ -b "$dev" ] || continue
  numbers=$(stat -c '%t %T' "$dev")
  major=$(printf '%d' "0x${numbers% *}"); minor=$(printf '%d' "0x${numbers#* }")
  size=$(blockdev --getsize64 "$dev" 2>/dev/null || echo 0)
  row "${dev#/dev/}" "$major:$minor" 0 "$size" 0 disk ""
done
"""


def cpuinfo(host: str, vcpus: int) -> str:
    """``/proc/cpuinfo`` of a guest with ``vcpus`` processors: the host's entries (``host``, the
    text of its ``/proc/cpuinfo``) renumbered, repeated when the guest has more than it."""
    blocks = [b for b in host.split("\n\n") if b.strip()]
    if not blocks:
        return ""
    out = []
    for index in range(max(1, vcpus)):
        lines = blocks[index % len(blocks)].strip("\n").split("\n")
        out.append("\n".join(f"processor\t: {index}" if line.split(":")[0].strip() == "processor"
                             else line for line in lines))
    return "\n\n".join(out) + "\n\n"


def write_cpuinfo(base: Path, vcpus: int) -> None:
    """(Re)write the guest's ``cpuinfo`` in place (a running guest has it bind-mounted)."""
    try:
        with open("/proc/cpuinfo") as handle:
            host = handle.read()
    except OSError:
        return
    with open(base / "cpuinfo", "w") as handle:
        handle.write(cpuinfo(host, vcpus))


def write_scripts(base: Path, spec: InstanceSpec, devs: dict[str, str]) -> None:
    """(Re)write the guest's scripts for ``spec`` with its interfaces ``devs`` (port -> eth)."""
    sbin = base / "sbin"
    sbin.mkdir(exist_ok=True)
    (sbin / "sudo").write_text(_SUDO)
    (sbin / "sudo").chmod(0o755)
    (sbin / "lsblk").write_text(_LSBLK)
    (sbin / "lsblk").chmod(0o755)
    busybox = shutil.which("busybox")
    if busybox is not None and not (sbin / "ip").is_symlink():
        # its "RTNETLINK answers: File exists" is what Tempest tolerates when it adds the
        # address of a hot-plugged NIC that DHCP gave it meanwhile (iproute2 words it otherwise)
        (sbin / "ip").symlink_to(busybox)
    write_cpuinfo(base, spec.vcpus)
    names = " ".join(sorted(devs.values(), key=lambda d: int(d[3:]) if d[3:].isdigit() else 0))
    head = (f"# generated by pocketstack for guest {spec.uuid}; rewritten at every boot\n"
            f"D={q(str(base))}\nNAME={q(spec.name)}\nUUID={q(spec.uuid)}\n"
            f"HOST_NAME={q(spec.hostname or spec.name)}\nDEVS={q(names)}\n"
            f"MD={q(METADATA_URL)}\nCARRIER_WAIT={CARRIER_WAIT_S}\nDHCP_TRIES={DHCP_TRIES}\n"
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin  # the host's tools, not the login's\n"
            f"{_SAY}")
    for file, body in (("init.sh", _INIT), ("net.sh", _NET), ("udhcpc.sh", _UDHCPC)):
        target = base / file
        tmp = target.with_suffix(".tmp")
        tmp.write_text("#!/bin/sh\n" + head + body)
        tmp.chmod(0o755)
        tmp.replace(target)
