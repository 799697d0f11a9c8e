"""maqet side by side with libvirt on the same work, in one run (issue Q §4).

The busybox test guest (256M, TCG, `guest_agent: true`) is added to a throw-away maqet home and
exported with `maqet export --to libvirt`; the domain is defined in the libvirtd that
bench/libvirtd_bench.py starts (as the tests start theirs: libvirtd 9.0 as root, no systemd).
Both run the same QEMU with the same devices. Every timed command is spawned the same way
(`benchlib.spawn_ms`: posix_spawn, output to /dev/null) and the two sides alternate, in
alternating order. Rows:

- start to running: `maqet start` (returns once QEMU answers QMP) vs `virsh start`;
- stop by ACPI of a booted guest: `maqet stop` (returns once QEMU has ended) vs `virsh shutdown`
  plus the wait until libvirt's QEMU has exited (a pidfd; libvirt's own bookkeeping after that
  is not counted, which favours libvirt);
- destroy (force): `maqet stop --force` vs `virsh destroy`;
- one QMP query: `maqet qmp VM query-status` vs `virsh qemu-monitor-command VM
  '{"execute":"query-status"}'`;
- the guest agent answers (a booted guest): `maqet wait VM --agent` vs `virsh
  qemu-agent-command VM '{"execute":"guest-ping"}'`;
- list with 100 VMs / domains defined (none running): `maqet ls` vs `virsh list --all`;
- managed save and restore of the real Debian guest with 1 GiB RAM (see vs_libvirt_save.py):
  skipped with a "not available" line while `maqet stop --help` has no `--save`.

Prints a Markdown table with median and min per side, the ratio of medians (maqet / libvirt)
and whether maqet is at least as fast; one FIGURE line per row for bench/run-all.sh. A run that
starts with a 1-minute load above 1.0 is marked NOT COMPARABLE (benchlib.Bench).
Needs root, libvirt (scripts/setup.sh) and the release build of the export plugin:
`cargo build --release -p maqet-cli -p maqet-runner -p maqet-plugin-export`.
Usage: vs_libvirt.sh [ROUNDS] [--no-save]   (default 5 boot rounds; QMP, agent and ls rows take
8x, 4x and 6x as many samples)
"""

import select
import os
import shutil
import statistics
import sys
import time

import benchlib
import libvirtd_bench
from libvirtd_bench import virsh, virsh_argv

NAME = "maqetbench"
LIST_SIZE = 100
BOOT_GUARD_S = 300


def plugin_library(name):
    """The release build of a plugin library next to the maqet binary (the debug one as a
    fallback); None when neither exists."""
    for profile in (benchlib.MAQET.parent, benchlib.MAQET.parent.parent / "debug"):
        path = profile / name
        if path.is_file():
            return path
    return None


def with_plugins(home, *names):
    """Copies the plugin libraries into the home's plugin dir; exits when one is not built."""
    plugins = home.root / "data" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    for name in names:
        lib = plugin_library(name)
        if lib is None:
            sys.exit(f"{name} is not built: run `cargo build --release -p maqet-plugin-export "
                     "-p maqet-plugin-cloud-init`")
        shutil.copy(lib, plugins / name)


def busybox_config(name, kernel, initrd):
    return (
        f"name: {name}\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\n"
        f"display: none\nguest_agent: true\narguments:\n"
        f"  - kernel: {kernel}\n  - initrd: {initrd}\n"
        f"  - append: \"console=ttyS0 panic=-1 quiet\"\n  - no-reboot: null\n"
    )


def export_xml(home, name, path):
    """`maqet export NAME --to libvirt --output PATH`."""
    home.run("export", name, "--to", "libvirt", "--output", path)
    return path.read_text()


def renamed_domain(xml, old, new):
    """The domain XML under another name, without its UUID and MAC (libvirt makes new ones)."""
    import re
    xml = xml.replace(f"<name>{old}</name>", f"<name>{new}</name>", 1)
    xml = re.sub(r"<uuid>[^<]*</uuid>", "", xml)
    return re.sub(r"<mac address=['\"][^'\"]*['\"]\s*/>", "", xml)


def wait_until(what, check, timeout=BOOT_GUARD_S, pause=0.2):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(pause)


def libvirt_agent_answers(name):
    return virsh("qemu-agent-command", name, '{"execute":"guest-ping"}', check=False).returncode == 0


def wait_pid_exit_ms(pid, t0, timeout=120.0):
    """Waits (pidfd) until process `pid` has ended; ms since t0 (perf_counter)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return (time.perf_counter() - t0) * 1000
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise RuntimeError(f"QEMU {pid} did not end within {timeout:.0f} s")
        return (time.perf_counter() - t0) * 1000
    finally:
        os.close(fd)


class Row:
    """One compared row: samples of each side."""

    def __init__(self, label, maqet_cmd, libvirt_cmd):
        self.label, self.maqet_cmd, self.libvirt_cmd = label, maqet_cmd, libvirt_cmd
        self.maqet, self.libvirt = [], []
        self.skipped = None

    def ratio(self):
        return statistics.median(self.maqet) / statistics.median(self.libvirt)


def interleaved(row, round_index, maqet_fn, libvirt_fn):
    """Runs both sides once, in an order that alternates with `round_index`."""
    order = (("maqet", maqet_fn), ("libvirt", libvirt_fn))
    for side, fn in order if round_index % 2 == 0 else order[::-1]:
        getattr(row, side).append(fn())


def boot_rounds(home, rounds, rows):
    """Start, agent, QMP, ACPI stop, start again, destroy: `rounds` times, both sides."""
    m, lv = home.env, dict(os.environ)
    qmp_m = home.argv("qmp", NAME, "query-status")
    qmp_lv = virsh_argv("qemu-monitor-command", NAME, '{"execute":"query-status"}')
    agent_m = home.argv("wait", NAME, "--agent", "--timeout", "30")
    agent_lv = virsh_argv("qemu-agent-command", NAME, '{"execute":"guest-ping"}')
    start_m, start_lv = home.argv("start", NAME), virsh_argv("start", NAME)

    def acpi_libvirt():
        pid = libvirtd_bench.domain_pid(NAME)
        t0 = time.perf_counter()
        benchlib.spawn_ms(virsh_argv("shutdown", NAME), m, stdout=os.devnull)
        return wait_pid_exit_ms(pid, t0)

    for i in range(rounds):
        interleaved(rows["start"], i, lambda: benchlib.spawn_ms(start_m, m),
                    lambda: benchlib.spawn_ms(start_lv, lv))
        home.run("wait", NAME, "--agent", "--timeout", str(BOOT_GUARD_S))
        wait_until("the libvirt guest's agent answering", lambda: libvirt_agent_answers(NAME))
        for j in range(4):
            interleaved(rows["agent"], i + j, lambda: benchlib.spawn_ms(agent_m, m),
                        lambda: benchlib.spawn_ms(agent_lv, lv))
        for j in range(8):
            interleaved(rows["qmp"], i + j, lambda: benchlib.spawn_ms(qmp_m, m),
                        lambda: benchlib.spawn_ms(qmp_lv, lv))
        time.sleep(1)  # let the guests' boot services settle before the power button
        interleaved(rows["acpi"], i, lambda: benchlib.spawn_ms(home.argv("stop", NAME, "--timeout", "120"), m),
                    acpi_libvirt)
        wait_until("libvirt marking the domain shut off",
                   lambda: virsh("domstate", NAME).stdout.strip() == "shut off", timeout=60)
        home.run("start", NAME)
        virsh("start", NAME)
        interleaved(rows["destroy"], i, lambda: benchlib.spawn_ms(home.argv("stop", NAME, "--force"), m),
                    lambda: benchlib.spawn_ms(virsh_argv("destroy", NAME), lv))
        print(f"round {i + 1}/{rounds}: " + "; ".join(
            f"{key} maqet {row.maqet[-1]:.1f} ms, libvirt {row.libvirt[-1]:.1f} ms"
            for key, row in rows.items() if row.maqet and row.libvirt), flush=True)


def list_rows(home, xml, kernel, initrd, rounds, row):
    """Defines LIST_SIZE VMs on each side (the benchmark VM and copies), then times listing."""
    for k in range(1, LIST_SIZE):
        name = f"{NAME}{k:03d}"
        home.add_config(name, busybox_config(name, kernel, initrd))
        path = home.root / f"{name}.xml"
        path.write_text(renamed_domain(xml, NAME, name))
        virsh("define", path)
    ls_m, ls_lv = home.argv("ls"), virsh_argv("list", "--all")
    for _ in range(3):
        benchlib.spawn_ms(ls_m, home.env)
        benchlib.spawn_ms(ls_lv, dict(os.environ))
    for i in range(rounds):
        interleaved(row, i, lambda: benchlib.spawn_ms(ls_m, home.env),
                    lambda: benchlib.spawn_ms(ls_lv, dict(os.environ)))


def print_table(rows, bench):
    print()
    print("| Row | maqet | libvirt | maqet / libvirt | maqet at least as fast |")
    print("|---|---|---|---|---|")
    for row in rows.values():
        if row.skipped:
            print(f"| {row.label} | — | — | — | not measured: {row.skipped} |")
            continue
        if not row.maqet or not row.libvirt:
            continue
        ratio = row.ratio()
        verdict = "yes" if ratio <= 1.0 else "**no**"
        print(f"| {row.label} (`{row.maqet_cmd}` vs `{row.libvirt_cmd}`) | "
              f"{statistics.median(row.maqet):.1f} ms (min {min(row.maqet):.1f}) | "
              f"{statistics.median(row.libvirt):.1f} ms (min {min(row.libvirt):.1f}) | "
              f"{ratio:.2f}× | {verdict} |")
    print()
    for row in rows.values():
        if row.skipped:
            bench.figure(f"vs libvirt: {row.label}", "≤ 1.00× libvirt", f"not measured: {row.skipped}", None)
        elif row.maqet and row.libvirt:
            bench.figure(
                f"vs libvirt: {row.label} (`{row.maqet_cmd}` vs `{row.libvirt_cmd}`)",
                "≤ 1.00× libvirt",
                f"**{row.ratio():.2f}×**: maqet {benchlib.med_min(row.maqet)}; "
                f"libvirt {benchlib.med_min(row.libvirt)}",
                row.ratio() <= 1.0,
            )


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 5
    bench = benchlib.Bench("vs_libvirt")
    rows = {
        "start": Row("start to running", "maqet start", "virsh start"),
        "acpi": Row("stop by ACPI, booted guest", "maqet stop", "virsh shutdown + QEMU exit"),
        "destroy": Row("stop by force", "maqet stop --force", "virsh destroy"),
        "qmp": Row("one QMP query", "maqet qmp VM query-status", "virsh qemu-monitor-command"),
        "agent": Row("guest agent answers, booted guest", "maqet wait VM --agent",
                     "virsh qemu-agent-command guest-ping"),
        "ls": Row(f"list, {LIST_SIZE} VMs defined", "maqet ls", "virsh list --all"),
    }
    try:
        daemon = libvirtd_bench.Libvirtd()
    except libvirtd_bench.Unavailable as e:
        print(f"vs_libvirt: cannot run: {e}", flush=True)
        bench.figure("vs libvirt", "every row ≤ 1.00× libvirt", f"not measured: {e}", False)
        bench.close()
        sys.exit(1)
    print(f"libvirt: {daemon.version}", flush=True)
    home = benchlib.Home()
    defined = [NAME]
    try:
        kernel, initrd = benchlib.test_guest()
        with_plugins(home, "libmaqet_export.so")
        home.add_config(NAME, busybox_config(NAME, kernel, initrd))
        xml = export_xml(home, NAME, home.root / f"{NAME}.xml")
        libvirtd_bench.remove_domain(NAME)
        virsh("define", home.root / f"{NAME}.xml")
        boot_rounds(home, rounds, rows)
        defined += [f"{NAME}{k:03d}" for k in range(1, LIST_SIZE)]
        list_rows(home, xml, kernel, initrd, rounds * 6, rows["ls"])
        if "--no-save" in sys.argv:
            rows["save"] = Row("managed save + restore, Debian 1 GiB", "", "")
            rows["save"].skipped = "left out (--no-save)"
        else:
            import vs_libvirt_save
            rows.update(vs_libvirt_save.rows(home, max(1, rounds // 2)))
        print_table(rows, bench)
        print(f"machine: {benchlib.machine()}; {daemon.version}")
    finally:
        for name in defined:
            libvirtd_bench.remove_domain(name)
        home.close()
        daemon.close()
        bench.close()


if __name__ == "__main__":
    main()
