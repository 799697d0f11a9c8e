"""Managed save and restore of the real Debian 12 guest with 1 GiB of RAM (issue Q item 2).

Boots the guest once (TCG; a minute or more), waits for its agent, then N times: `maqet stop VM
--save` (timed: guest paused, memory written, QEMU ended), then `maqet start VM` + `maqet wait
VM --agent` (timed: restore until the agent answers; target < 2 s). Each round checks that a
file written to the guest's /dev/shm before the first save is still there, so no round
rebooted. Reports median and min of both. Args: [ROUNDS] (default 5).

The disk is a qcow2 overlay on the cached image from tests/guest/build-debian.sh.
"""

import json
import statistics
import subprocess
import sys
import time

import benchlib
from debian_guest import debian_image

TARGET_RESTORE_S = 2.0
MARKER = "maqet-bench-kept-in-ram"



def timed(home, *args):
    """Seconds `maqet ARGS` took (it must succeed)."""
    t0 = time.perf_counter()
    home.run(*args)
    return time.perf_counter() - t0


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    bench = benchlib.Bench("managed_save")
    image = debian_image()
    home = benchlib.Home()
    try:
        overlay = home.root / "deb.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image, str(overlay)],
            check=True,
        )
        config = home.root / "configs" / "deb.yaml"
        config.write_text(
            "memory: 1G\nguest_agent: true\naccel: tcg\n"
            f"storage:\n  - {{name: hdd, type: qcow2, file: {json.dumps(str(overlay))}}}\n"
        )
        home.run("add", config, "--name", "deb")
        t0 = time.perf_counter()
        home.run("start", "deb")
        home.run("wait", "deb", "--agent", "--timeout", "900")
        boot_s = time.perf_counter() - t0
        print(f"boot to agent answering: {boot_s:.1f} s", flush=True)
        home.run("exec", "deb", "--", "sh", "-c", f"echo {MARKER} > /dev/shm/maqet-bench")
        time.sleep(3)  # let the guest settle after boot
        save_s, restore_s = [], []
        for i in range(rounds):
            save_s.append(timed(home, "stop", "deb", "--save"))
            image_size = (home.root / "data").rglob("managed-save.state")
            size = sum(p.stat().st_size for p in image_size)
            t0 = time.perf_counter()
            home.run("start", "deb")
            home.run("wait", "deb", "--agent", "--timeout", "60")
            restore_s.append(time.perf_counter() - t0)
            seen = home.run("exec", "deb", "--", "cat", "/dev/shm/maqet-bench").stdout.strip()
            if seen != MARKER:
                raise RuntimeError(f"round {i + 1}: the guest lost its RAM (read {seen!r}): it rebooted")
            print(f"round {i + 1}: save {save_s[-1]:.2f} s ({size / 2**20:.0f} MiB image), "
                  f"restore to agent {restore_s[-1]:.2f} s", flush=True)
        print()
        print("| step | median s | min s | n |")
        print("|---|---|---|---|")
        for label, times in (("`maqet stop VM --save`", save_s),
                             ("`maqet start VM` + `wait --agent`", restore_s)):
            print(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f} | {len(times)} |")
        bench.figure(
            "Debian 12, 1 GiB RAM: `maqet stop VM --save`",
            "—",
            f"median {statistics.median(save_s):.2f} s (min {min(save_s):.2f}, n {len(save_s)})",
            None,
        )
        median_restore = statistics.median(restore_s)
        bench.figure(
            "Debian 12, 1 GiB RAM: `maqet start VM` of a saved VM until the agent answers",
            f"< {TARGET_RESTORE_S:.0f} s",
            f"median {median_restore:.2f} s (min {min(restore_s):.2f}, n {len(restore_s)})",
            median_restore < TARGET_RESTORE_S,
        )
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
