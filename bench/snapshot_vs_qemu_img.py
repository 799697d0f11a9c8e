"""Snapshot create/load through maqet against raw `qemu-img snapshot` on the same image (issue C §6).

A stopped VM with one 256 MiB qcow2 disk holding 64 MiB of data. Interleaved runs: maqet
`snapshot VM create|load hdd NAME` and `qemu-img snapshot -c|-a NAME IMAGE`, each followed by a
delete so every run starts from the same image. Reports the ratio of medians (target <= 1.1x).
Usage: snapshot_vs_qemu_img.sh [RUNS]   (default 20)
"""

import statistics
import subprocess
import sys
import time

import benchlib

TARGET_RATIO = 1.1


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    home = benchlib.Home()
    try:
        image = home.root / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "256M"], check=True)
        subprocess.run(["qemu-io", "-c", "write -P 0x5a 0 64M", str(image)], check=True,
                       stdout=subprocess.DEVNULL)
        home.add_config("snap", benchlib.no_os_config("snap")
                        + f"storage:\n  - {{name: hdd, type: qcow2, file: {image}}}\n")
        results = {"maqet create": [], "qemu-img create": [], "maqet load": [], "qemu-img load": []}
        for i in range(runs):
            name = f"s{i}a"
            results["maqet create"].append(timed(lambda: home.run("snapshot", "snap", "create", "hdd", name)))
            results["maqet load"].append(timed(lambda: home.run("snapshot", "snap", "load", "hdd", name)))
            subprocess.run(["qemu-img", "snapshot", "-d", name, str(image)], check=True)
            raw = f"s{i}b"
            results["qemu-img create"].append(timed(lambda: subprocess.run(
                ["qemu-img", "snapshot", "-c", raw, str(image)], check=True)))
            results["qemu-img load"].append(timed(lambda: subprocess.run(
                ["qemu-img", "snapshot", "-a", raw, str(image)], check=True)))
            subprocess.run(["qemu-img", "snapshot", "-d", raw, str(image)], check=True)
        print(f"machine: {benchlib.machine()}")
        for key, times in results.items():
            print(f"{key:16} {benchlib.summary(times)}")
        for op in ("create", "load"):
            ratio = statistics.median(results[f"maqet {op}"]) / statistics.median(results[f"qemu-img {op}"])
            verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
            print(f"{op}: ratio of medians {ratio:.2f}x (target <= {TARGET_RATIO}x) {verdict}")
    finally:
        home.close()


if __name__ == "__main__":
    main()
