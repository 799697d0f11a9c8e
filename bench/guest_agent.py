"""Guest agent latency and throughput (issue H §6).

Boots the test guest (busybox + qemu-ga, TCG, 256M) with `guest_agent: true` in a throw-away
home, waits for the agent, lets the guest settle, then:
- times `maqet exec VM -- /bin/true` end to end (a whole CLI process: parse, DB read, connect
  to the runner's agent.sock, guest-exec, guest-exec-status polls, print), hyperfine when
  installed, else Python timing; target median <= 15 ms;
- copies MIB MiB of random bytes in (`maqet cp FILE VM:/tmp/x`) and out again, checks the
  sha256 on both sides, and reports MiB/s; target >= 20 MiB/s each way.
Figures are only comparable when the 1-minute load average is below 1; otherwise the result
says NOT COMPARABLE.
Usage: guest_agent.sh [RUNS] [MIB]   (defaults 50 and 64)
"""

import hashlib
import os
import statistics
import subprocess
import sys
import time

import benchlib

TARGET_EXEC_MS = 15.0
TARGET_MIB_S = 20.0


def test_guest():
    out = subprocess.run(
        ["bash", str(benchlib.REPO / "tests/guest/build-guest.sh")],
        capture_output=True, text=True, check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return values["KERNEL"], values["INITRD"]


def guest_config(name, kernel, initrd):
    return (
        f"name: {name}\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\n"
        f"display: none\nguest_agent: true\narguments:\n"
        f"  - kernel: {kernel}\n  - initrd: {initrd}\n"
        f"  - append: \"console=ttyS0 panic=-1 quiet\"\n  - no-reboot: null\n"
    )


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verdict(ok, comparable):
    if not comparable:
        return "NOT COMPARABLE (load average >= 1)"
    return "PASS" if ok else "FAIL"


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    kernel, initrd = test_guest()
    home = benchlib.Home()
    try:
        home.add_config("bench", guest_config("bench", kernel, initrd))
        home.run("start", "bench")
        home.run("wait", "bench", "--agent", "--timeout", "300")
        time.sleep(5)  # let the guest finish booting and go idle
        load_before = os.getloadavg()[0]

        argv = home.argv("exec", "bench", "--", "/bin/true")
        measured = benchlib.hyperfine_median_ms(argv, runs, home.env)
        if measured is not None:
            exec_median, result = measured
            how = f"hyperfine -N, {runs} runs, 3 warm-up"
            exec_text = (f"median {exec_median:.2f} ms (min {result['min'] * 1000:.2f}, "
                         f"max {result['max'] * 1000:.2f})")
        else:
            times = benchlib.time_runs(lambda: home.run("exec", "bench", "--", "/bin/true"), runs)
            exec_median, how, exec_text = statistics.median(times), f"Python timing, {runs} runs", benchlib.summary(times)

        local = home.root / "payload.bin"
        with open(local, "wb") as f:
            f.write(os.urandom(mib << 20))
        t0 = time.perf_counter()
        home.run("cp", local, "bench:/tmp/payload.bin")
        into = time.perf_counter() - t0
        inside = home.run("exec", "bench", "--", "sha256sum", "/tmp/payload.bin").stdout.split()[0]
        back = home.root / "back.bin"
        t0 = time.perf_counter()
        home.run("cp", "bench:/tmp/payload.bin", back)
        out = time.perf_counter() - t0
        same = sha256(local) == inside == sha256(back)
        load_after = os.getloadavg()[0]
        comparable = max(load_before, load_after) < 1.0

        print(f"maqet exec VM -- /bin/true ({how}): {exec_text}")
        print(f"  target <= {TARGET_EXEC_MS} ms: {verdict(exec_median <= TARGET_EXEC_MS, comparable)}")
        for label, seconds in (("in", into), ("out", out)):
            rate = mib / seconds
            print(f"maqet cp {mib} MiB {label}: {seconds:.2f} s, {rate:.2f} MiB/s")
            print(f"  target >= {TARGET_MIB_S} MiB/s: {verdict(rate >= TARGET_MIB_S, comparable)}")
        print(f"sha256 equal on host, in the guest and after the copy back: {same}")
        print(f"load average (1 min) before/after: {load_before:.2f}/{load_after:.2f}")
        print(f"machine: {benchlib.machine()}")
        if not same:
            sys.exit("the copies differ")
    finally:
        home.close()


if __name__ == "__main__":
    main()
