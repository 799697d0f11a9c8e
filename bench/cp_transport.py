"""`maqet cp` through the copy channel, over SSH and through the agent on the real Debian guest
(issue Q §1).

Boots the Debian 12 guest (tests/guest/build-debian.sh; TCG, 1 GiB, first-boot identity, guest
agent, so also the copy channel) in a throw-away home and waits for SSH. Each round copies one
file of SIZE MiB of random bytes, interleaved, in alternating order:
- in: host -> guest `--via channel`, then `--via ssh` (or the reverse on odd rounds);
- out: guest -> host, likewise;
every copy checked byte for byte (sha256 in the guest for copies in, a compare on the host for
copies out). The agent is slow (about 3 MB/s in on this guest: 256 MiB would take minutes), so
it is measured once per direction, after the rounds, with min(SIZE, 64) MiB. A figure is the
size over the wall time of the whole `maqet cp` process (connecting included), median of the
rounds. Targets: the channel at least 5x the agent rates issue Q measured on this guest (2.4
MB/s in, 6.7 MB/s out), i.e. 12 MB/s in and 33.5 MB/s out; SSH and the agent are reported
beside it. A run that starts with a 1-minute load above 1.0 is marked NOT COMPARABLE
(benchlib.Bench).
Usage: cp_transport.sh [SIZE_MIB] [ROUNDS]   (defaults 256 and 1)
"""

import hashlib
import json
import os
import statistics
import sys
import time

import benchlib
from debian_guest import debian_image

BASELINE_MBPS = {"in": 2.4, "out": 6.7}  # the agent path on this guest, issue Q
TARGET_FACTOR = 5.0
BOOT_TIMEOUT_S = 900



def guest_config(image):
    return (
        "name: deb\nmemory: 1G\naccel: tcg\ncloud_init: true\nguest_agent: true\nstorage:\n"
        f"  - {{name: hdd, type: qcow2, size: 8G, backing_file: \"{image}\", backing_format: qcow2}}\n"
    )


def timed_cp(home, via, src, dst):
    """Runs `maqet cp --via VIA --force SRC DST`; (seconds, its JSON report)."""
    t0 = time.perf_counter()
    done = home.run("cp", "--via", via, "--force", src, dst, "--format", "json")
    seconds = time.perf_counter() - t0
    report = json.loads(done.stdout)
    if report["transport"] != via:
        raise RuntimeError(f"asked for {via}, got {report}")
    return seconds, report


def write_random(path, size_mib):
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))


def copy_checked(home, via, direction, data, digest, size_mb):
    """One copy of DATA in (to /var/tmp/bench.bin) or out (back from it), checked; its MB/s."""
    if direction == "in":
        seconds, _ = timed_cp(home, via, data, "deb:/var/tmp/bench.bin")
        got = home.run("exec", "deb", "--", "sha256sum", "/var/tmp/bench.bin").stdout.split()[0]
        if got != digest:
            raise RuntimeError(f"copy in via {via}: sha256 {got} != {digest}")
    else:
        back = home.root / f"back-{via}.bin"
        seconds, _ = timed_cp(home, via, "deb:/var/tmp/bench.bin", back)
        if sha256(back) != digest:
            raise RuntimeError(f"copy out via {via}: the bytes differ")
        back.unlink()
    return size_mb / seconds


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    image = debian_image()
    bench = benchlib.Bench("cp_transport")
    print(f"machine: {benchlib.machine()}", flush=True)
    home = benchlib.Home()
    try:
        home.add_config("deb", guest_config(image))
        home.run("start", "deb")
        t0 = time.perf_counter()
        home.run("wait", "deb", "--ssh", "--timeout", str(BOOT_TIMEOUT_S))
        print(f"guest accepts SSH after {time.perf_counter() - t0:.0f} s", flush=True)
        data = home.root / "data.bin"
        write_random(data, size_mib)
        digest = sha256(data)
        size_mb = size_mib * (1 << 20) / 1e6
        rates = {(d, v): [] for d in ("in", "out") for v in ("channel", "ssh", "agent")}
        for r in range(rounds):
            order = ("channel", "ssh") if r % 2 == 0 else ("ssh", "channel")
            for direction in ("in", "out"):
                for via in order:
                    rate = copy_checked(home, via, direction, data, digest, size_mb)
                    rates[(direction, via)].append(rate)
                    print(f"round {r + 1}: {direction:3} via {via:7}: {rate:6.2f} MB/s", flush=True)
        agent_mib = min(size_mib, 64)
        small = home.root / "small.bin"
        write_random(small, agent_mib)
        small_digest = sha256(small)
        for direction in ("in", "out"):
            rate = copy_checked(home, "agent", direction, small, small_digest, agent_mib * (1 << 20) / 1e6)
            rates[(direction, "agent")].append(rate)
            print(f"once: {direction:3} via agent ({agent_mib} MiB): {rate:6.2f} MB/s", flush=True)
        for direction in ("in", "out"):
            channel = statistics.median(rates[(direction, "channel")])
            ssh = statistics.median(rates[(direction, "ssh")])
            agent = rates[(direction, "agent")][0]
            target = BASELINE_MBPS[direction] * TARGET_FACTOR
            bench.figure(
                f"cp {size_mib} MiB {direction} through the copy channel (Debian guest, TCG)",
                f">= {target:.1f} MB/s (5x {BASELINE_MBPS[direction]})",
                f"{channel:.2f} MB/s, {channel / BASELINE_MBPS[direction]:.1f}x issue Q's agent figure",
                channel >= target,
            )
            bench.figure(
                f"cp {size_mib} MiB {direction} over SSH (same run)",
                "reported",
                f"{ssh:.2f} MB/s; the channel is {channel / ssh:.1f}x it",
                None,
            )
            bench.figure(
                f"cp {agent_mib} MiB {direction} through the agent (same run, once)",
                "reported",
                f"{agent:.2f} MB/s; the channel is {channel / agent:.1f}x it",
                None,
            )
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
