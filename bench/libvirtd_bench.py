"""A libvirtd (and virtlogd) for the benchmarks, started the way the tests start theirs.

Mirrors tests/src/libvirtd.rs: needs root and Debian's libvirt-daemon-system; appends to
/etc/libvirt/qemu.conf that QEMU runs as root with no cgroup controllers, no namespaces and
no security driver (this machine has no systemd and runs in a container), starts `virtlogd -d`
and `libvirtd -d`, and on `close()` stops what it started and puts qemu.conf back byte for
byte. A libvirtd that already runs is refused: its configuration is not ours to change.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

QEMU_CONF = Path("/etc/libvirt/qemu.conf")
LIBVIRTD_PID = Path("/run/libvirtd.pid")
VIRTLOGD_PID = Path("/run/virtlogd.pid")
URI = "qemu:///system"
BENCH_SETTINGS = (
    "\n# added by maqet's benchmarks (removed when they finish)\n"
    'user = "root"\ngroup = "root"\ndynamic_ownership = 0\ncgroup_controllers = [ ]\n'
    'namespaces = [ ]\nsecurity_driver = "none"\n'
)


class Unavailable(Exception):
    """libvirt cannot be used here; the message says why and what to do."""


def pid_alive(pidfile):
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def wait_for_pid(pidfile, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = pid_alive(pidfile)
        if pid is not None:
            return pid
        time.sleep(0.1)
    raise Unavailable(f"{pidfile} did not appear within {timeout:.0f} s")


def virsh(*args, check=True):
    """Runs `virsh -q -c qemu:///system ARGS`; returns the CompletedProcess (text)."""
    done = subprocess.run(["virsh", "-q", "-c", URI, *map(str, args)], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(map(str, args))} failed: {done.stdout}{done.stderr}")
    return done


def virsh_argv(*args):
    """The argv of `virsh -q -c qemu:///system ARGS` (for timing with benchlib.spawn_ms)."""
    return ["/usr/bin/virsh", "-q", "-c", URI, *map(str, args)]


class Libvirtd:
    """The benchmark's libvirtd; see the module docs."""

    def __init__(self):
        for tool in ("/usr/sbin/libvirtd", "/usr/sbin/virtlogd", "/usr/bin/virsh"):
            if not Path(tool).exists():
                raise Unavailable(f"{tool} is missing: run scripts/setup.sh (apt-get install "
                                  "libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients)")
        if os.geteuid() != 0:
            raise Unavailable("libvirtd is started as root here (as the tests do); run as root")
        if pid_alive(LIBVIRTD_PID) is not None:
            raise Unavailable(f"a libvirtd already runs (see {LIBVIRTD_PID}), perhaps a test's; "
                              "let it finish or stop it, then run this again")
        self.original_conf = QEMU_CONF.read_bytes()
        QEMU_CONF.write_bytes(self.original_conf + BENCH_SETTINGS.encode())
        self.virtlogd_pid = None
        self.libvirtd_pid = None
        try:
            if pid_alive(VIRTLOGD_PID) is None:
                subprocess.run(["/usr/sbin/virtlogd", "-d"], check=True)
                self.virtlogd_pid = wait_for_pid(VIRTLOGD_PID)
            subprocess.run(["/usr/sbin/libvirtd", "-d"], check=True)
            self.libvirtd_pid = wait_for_pid(LIBVIRTD_PID)
            deadline = time.monotonic() + 60
            while virsh("version", check=False).returncode != 0:
                if time.monotonic() > deadline:
                    raise Unavailable("libvirtd did not answer within 60 s")
                time.sleep(0.2)
            self.version = virsh("version", "--daemon").stdout.strip().replace("\n", "; ")
        except BaseException:
            self.close()
            raise

    def close(self):
        for pid in (self.libvirtd_pid, self.virtlogd_pid):
            if pid is not None:
                stop(pid)
        self.libvirtd_pid = self.virtlogd_pid = None
        QEMU_CONF.write_bytes(self.original_conf)


def stop(pid):
    """SIGTERM, then SIGKILL after 30 s, for a daemon this module started."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def remove_domain(name):
    """Stops and undefines domain `name` if it exists (clean-up), with its managed save image."""
    virsh("destroy", name, check=False)
    virsh("undefine", name, "--nvram", "--managed-save", check=False)


def domain_pid(name):
    """The pid of domain `name`'s QEMU, from libvirt's pid file (None when it does not run)."""
    return pid_alive(Path(f"/run/libvirt/qemu/{name}.pid"))
