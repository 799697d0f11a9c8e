"""The managed-save rows of bench/vs_libvirt.py: the real Debian guest with 1 GiB RAM saved and
restored by maqet (`maqet stop VM --save`, then `maqet start VM`) and by libvirt (`virsh
managedsave`, then `virsh start`).

Each side boots its own copy of the Debian guest (tests/guest/build-debian.sh; a qcow2 overlay
each, so the two QEMUs never share a writable disk) once, to its guest agent. Then, interleaved
round by round: the save (the command's wall time; both end QEMU), the restore command, and the
restore to "the agent answers" (maqet: `maqet start` then `maqet wait --agent`; libvirt: `virsh
start` then `virsh qemu-agent-command guest-ping` until it answers).
Skipped, with the reason, while `maqet stop --help` has no `--save` (issue Q §2 not built yet).
"""

import os
import re
import subprocess
import time

import benchlib
from debian_guest import debian_image
import libvirtd_bench
from libvirtd_bench import virsh, virsh_argv

NAME = "maqetbenchdeb"
BOOT_GUARD_S = 900


def managed_save_missing(home):
    """Why the maqet side cannot run, or None when `maqet stop --save` exists."""
    help_text = home.run("stop", "--help").stdout
    if "--save" not in help_text:
        return "not available: this maqet has no `stop --save` (managed save, issue Q §2)"
    return None


def debian_config(image):
    return (
        f"name: {NAME}\nbinary: qemu-system-x86_64\nmemory: 1G\ncpu: 1\naccel: tcg\n"
        f"display: none\nguest_agent: true\nstorage:\n"
        f"  - {{name: hdd, type: qcow2, size: 4G, from: \"{image}\"}}\n"
    )


def libvirt_agent_answers():
    return virsh("qemu-agent-command", NAME, '{"execute":"guest-ping"}', check=False).returncode == 0


def wait_until(what, check, timeout=BOOT_GUARD_S):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def libvirt_domain(home, image):
    """The maqet VM exported, with a disk overlay of its own in place of maqet's."""
    xml_path = home.root / f"{NAME}.xml"
    home.run("export", NAME, "--to", "libvirt", "--output", xml_path)
    own = home.root / f"{NAME}-libvirt.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image,
                    str(own), "4G"], check=True)
    xml = xml_path.read_text()
    # Every disk (not a CD-ROM or the seed) gets the overlay in place of maqet's file.
    disk_sources = re.findall(
        r'<disk type="file" device="disk">.*?<source file="([^"]+)"', xml, flags=re.S)
    if not disk_sources:
        raise RuntimeError(f"the export names no disk file of the maqet VM to replace:\n{xml}")
    for path in set(disk_sources):
        xml = xml.replace(f'file="{path}"', f'file="{own}"')
    xml_path.write_text(xml)
    return xml_path


def rows(home, rounds):
    """The Row objects of vs_libvirt.py for managed save; skipped ones say why."""
    from vs_libvirt import Row, interleaved

    save = Row("managed save, Debian 1 GiB", "maqet stop VM --save", "virsh managedsave")
    restore = Row("restore command, Debian 1 GiB", "maqet start VM", "virsh start")
    to_agent = Row("restore to agent answers, Debian 1 GiB", "maqet start + wait --agent",
                   "virsh start + guest-ping")
    out = {"save": save, "restore": restore, "restore_agent": to_agent}
    reason = managed_save_missing(home)
    if reason:
        print(f"managed save: {reason}", flush=True)
        for row in out.values():
            row.skipped = reason
        return out
    image = debian_image()
    home.add_config(NAME, debian_config(image))
    home.run("start", NAME)
    xml_path = libvirt_domain(home, image)
    libvirtd_bench.remove_domain(NAME)
    env = dict(os.environ)
    try:
        virsh("define", xml_path)
        virsh("start", NAME)
        home.run("wait", NAME, "--agent", "--timeout", str(BOOT_GUARD_S))
        wait_until("the libvirt Debian guest's agent answering", libvirt_agent_answers)
        time.sleep(5)  # let boot services settle on both

        def maqet_restore_to_agent():
            t0 = time.perf_counter()
            restore.maqet.append(benchlib.spawn_ms(home.argv("start", NAME), home.env))
            benchlib.spawn_ms(home.argv("wait", NAME, "--agent", "--timeout", "120"), home.env)
            return (time.perf_counter() - t0) * 1000

        def libvirt_restore_to_agent():
            t0 = time.perf_counter()
            restore.libvirt.append(benchlib.spawn_ms(virsh_argv("start", NAME), env))
            wait_until("the restored libvirt guest's agent answering", libvirt_agent_answers, 120)
            return (time.perf_counter() - t0) * 1000

        for i in range(rounds):
            interleaved(save, i, lambda: benchlib.spawn_ms(home.argv("stop", NAME, "--save"), home.env),
                        lambda: benchlib.spawn_ms(virsh_argv("managedsave", NAME), env))
            interleaved(to_agent, i, maqet_restore_to_agent, libvirt_restore_to_agent)
            print(f"save round {i + 1}/{rounds}: save maqet {save.maqet[-1]:.0f} ms, libvirt "
                  f"{save.libvirt[-1]:.0f} ms; restore to agent maqet {to_agent.maqet[-1]:.0f} ms, "
                  f"libvirt {to_agent.libvirt[-1]:.0f} ms", flush=True)
    finally:
        home.run("stop", NAME, "--force", check=False)
        libvirtd_bench.remove_domain(NAME)
    return out
