"""Snapshot create/load through maqet against raw `qemu-img snapshot` on the same image
(issues C §6, J).

A stopped VM with one 256 MiB qcow2 disk holding 64 MiB of data. Interleaved runs, in
alternating order: maqet `snapshot VM create|load hdd NAME` and `qemu-img snapshot -c|-a NAME
IMAGE`, each side's snapshot deleted again (untimed) so every run starts from the same image.
Both sides are spawned the same way (posix_spawn + wait, output to /dev/null). Reports median and
min of each and the ratio of medians.
Usage: snapshot_vs_qemu_img.sh [RUNS]   (default 30; target ratio <= 1.25)
"""

import statistics
import subprocess
import sys

import benchlib

TARGET_RATIO = 1.25


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    bench = benchlib.Bench("snapshot_vs_qemu_img")
    home = benchlib.Home()
    try:
        image = home.root / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "256M"], check=True)
        subprocess.run(["qemu-io", "-c", "write -P 0x5a 0 64M", str(image)], check=True,
                       stdout=subprocess.DEVNULL)
        home.add_config("snap", benchlib.no_os_config("snap")
                        + f"storage:\n  - {{name: hdd, type: qcow2, file: {image}}}\n")
        qemu_img = subprocess.run(["which", "qemu-img"], capture_output=True, text=True,
                                  check=True).stdout.strip()
        env = home.env

        def maqet(op, name):
            return benchlib.spawn_ms(home.argv("snapshot", "snap", op, "hdd", name), env)

        def raw(flag, name):
            return benchlib.spawn_ms([qemu_img, "snapshot", flag, name, str(image)], env)

        def delete(name):
            subprocess.run([qemu_img, "snapshot", "-d", name, str(image)], check=True)

        results = {"maqet create": [], "qemu-img create": [], "maqet load": [], "qemu-img load": []}
        for i in range(runs + 1):
            sides = ("maqet", "raw") if i % 2 == 0 else ("raw", "maqet")
            got = {}
            for side in sides:
                name = f"s{i}{side[0]}"
                if side == "maqet":
                    got["maqet create"] = maqet("create", name)
                    got["maqet load"] = maqet("load", name)
                else:
                    got["qemu-img create"] = raw("-c", name)
                    got["qemu-img load"] = raw("-a", name)
                delete(name)
            if i == 0:
                continue  # warm-up round
            for key, ms in got.items():
                results[key].append(ms)
        for key, times in results.items():
            print(f"{key:16} {benchlib.med_min(times)}")
        for op in ("create", "load"):
            m, q = results[f"maqet {op}"], results[f"qemu-img {op}"]
            ratio = statistics.median(m) / statistics.median(q)
            print(f"{op}: ratio of medians {ratio:.2f}x (target <= {TARGET_RATIO}x)")
            bench.figure(f"Offline `snapshot {op}` vs `qemu-img snapshot {'-c' if op == 'create' else '-a'}` "
                         f"(256 MiB qcow2, {runs} interleaved rounds)",
                         f"≤ {TARGET_RATIO}×",
                         f"**{ratio:.2f}×**: maqet {benchlib.med_min(m)}; qemu-img {benchlib.med_min(q)}",
                         ratio <= TARGET_RATIO)
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
