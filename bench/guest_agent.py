"""Guest agent latency and throughput (issue H §6).

Boots the test guest (busybox + qemu-ga, TCG, 256M) with `guest_agent: true` in a throw-away
home, waits for the agent, lets the guest settle, then:
- times `maqet exec VM -- /bin/true` end to end (a whole CLI process: parse, DB read, connect
  to the runner's agent.sock, guest-exec, guest-exec-status polls, print), hyperfine when
  installed, else Python timing; target median <= 15 ms;
- copies MIB MiB of random bytes in (`maqet cp --via agent FILE VM:/tmp/x`; the copy channel
  is bench/cp_transport.sh's) and out again, checks the
  sha256 on both sides, and reports MiB/s; target >= 20 MiB/s each way.
Figures are only comparable when the 1-minute load average is below 1; otherwise the result
says NOT COMPARABLE.
Usage: guest_agent.sh [RUNS] [MIB]   (defaults 50 and 64)
"""

import hashlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import benchlib

TARGET_EXEC_MS = 15.0
TARGET_MIB_S = 20.0


def guest_config(name, kernel, initrd, raw_socket):
    """The test guest with the agent, plus one bare virtio-serial port (`org.maqet.bench.0`) on
    `raw_socket`: the baseline a byte stream into this guest can reach without the agent."""
    return (
        f"name: {name}\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\n"
        f"display: none\nguest_agent: true\narguments:\n"
        f"  - kernel: {kernel}\n  - initrd: {initrd}\n"
        f"  - append: \"console=ttyS0 panic=-1 quiet\"\n  - no-reboot: null\n"
        f"  - chardev: socket,id=bench0,path={raw_socket},server=on,wait=off\n"
        f"  - device: virtio-serial-pci,id=benchserial\n"
        f"  - device: virtserialport,bus=benchserial.0,chardev=bench0,name=org.maqet.bench.0\n"
    )


RAW_PORT_SCRIPT = (
    "for p in /sys/class/virtio-ports/*; do "
    "[ \"$(cat $p/name)\" = org.maqet.bench.0 ] && exec head -c {size} /dev/${{p##*/}} > /tmp/raw.bin; "
    "done; exit 9"
)


def raw_port_copy(home, raw_socket, payload):
    """Sends `payload` into the guest over the bare virtio-serial port (a `head -c` in the guest
    reads it); returns the wall time from the first byte to the guest's file being complete."""
    size = len(payload)
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(raw_socket))
        t0 = time.perf_counter()
        reader = subprocess.Popen(
            home.argv("exec", "bench", "--timeout", "600", "--", "sh", "-c",
                      RAW_PORT_SCRIPT.format(size=size)),
            env=home.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        conn.sendall(payload)
        _, err = reader.communicate()
        elapsed = time.perf_counter() - t0
    if reader.returncode != 0:
        sys.exit(f"the raw virtio-serial copy failed ({reader.returncode}): {err}")
    return elapsed


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_seconds(pid):
    """User + system CPU time a process has used so far, in seconds (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes(home):
    """The pids of the VM's QEMU and of its runner, from `maqet status`."""
    status = home.json("status", "bench")
    return status["pid"], status["runner_pid"]


class CpuShare:
    """Where the CPU time of a timed stretch went: QEMU (the guest and its devices), the runner,
    and the maqet CLI processes (children of this script)."""

    def __init__(self, qemu, runner):
        self.qemu, self.runner = qemu, runner

    def __enter__(self):
        self.start = (cpu_seconds(self.qemu), cpu_seconds(self.runner) if self.runner else 0.0,
                      self.children(), time.perf_counter())
        return self

    @staticmethod
    def children():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __exit__(self, *exc):
        q0, r0, c0, t0 = self.start
        self.wall = time.perf_counter() - t0
        self.qemu_s = cpu_seconds(self.qemu) - q0
        self.runner_s = (cpu_seconds(self.runner) - r0) if self.runner else float("nan")
        self.cli_s = self.children() - c0

    def text(self, per=1):
        return (f"wall {self.wall / per * 1000:.1f} ms, CPU: QEMU {self.qemu_s / per * 1000:.1f} ms, "
                f"runner {self.runner_s / per * 1000:.1f} ms, maqet CLI {self.cli_s / per * 1000:.1f} ms")


def verdict(ok, comparable):
    if not comparable:
        return "NOT COMPARABLE (load average >= 1)"
    return "PASS" if ok else "FAIL"


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    kernel, initrd = benchlib.test_guest()
    home = benchlib.Home()
    try:
        raw_socket = home.root / "raw.sock"
        home.add_config("bench", guest_config("bench", kernel, initrd, raw_socket))
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

        qemu, runner = processes(home)
        shares = {}
        with CpuShare(qemu, runner) as idle:
            time.sleep(2)
        shares["idle guest, 2 s"] = idle.text()
        with CpuShare(qemu, runner) as ex:
            for _ in range(10):
                home.run("exec", "bench", "--", "/bin/true")
        shares["one `exec -- /bin/true` (mean of 10)"] = ex.text(per=10)

        local = home.root / "payload.bin"
        with open(local, "wb") as f:
            f.write(os.urandom(mib << 20))
        with CpuShare(qemu, runner) as cp_in:
            home.run("cp", "--via", "agent", local, "bench:/tmp/payload.bin")
        into = cp_in.wall
        shares[f"`cp` {mib} MiB in"] = cp_in.text()
        inside = home.run("exec", "bench", "--", "sha256sum", "/tmp/payload.bin").stdout.split()[0]
        back = home.root / "back.bin"
        with CpuShare(qemu, runner) as cp_out:
            home.run("cp", "--via", "agent", "bench:/tmp/payload.bin", back)
        out = cp_out.wall
        shares[f"`cp` {mib} MiB out"] = cp_out.text()
        payload = local.read_bytes()
        with CpuShare(qemu, runner) as raw:
            raw_port_copy(home, raw_socket, payload)
        shares[f"bare virtio-serial port, {mib} MiB in (no agent)"] = raw.text()
        raw_inside = home.run("exec", "bench", "--", "sha256sum", "/tmp/raw.bin").stdout.split()[0]
        same = sha256(local) == inside == sha256(back) == raw_inside
        load_after = os.getloadavg()[0]
        comparable = max(load_before, load_after) < 1.0

        print(f"maqet exec VM -- /bin/true ({how}): {exec_text}")
        print(f"  target <= {TARGET_EXEC_MS} ms: {verdict(exec_median <= TARGET_EXEC_MS, comparable)}")
        for label, seconds in (("in", into), ("out", out)):
            rate = mib / seconds
            print(f"maqet cp {mib} MiB {label}: {seconds:.2f} s, {rate:.2f} MiB/s")
            print(f"  target >= {TARGET_MIB_S} MiB/s: {verdict(rate >= TARGET_MIB_S, comparable)}")
        print(f"baseline: {mib} MiB through a bare virtio-serial port into the same guest: "
              f"{raw.wall:.2f} s, {mib / raw.wall:.2f} MiB/s (maqet cp in reaches "
              f"{raw.wall / into:.2f}x of it)")
        print("where the time goes (CPU time of each process during the stretch):")
        for label, text in shares.items():
            print(f"  {label}: {text}")
        print(f"sha256 equal on host, in the guest, after the copy back and over the bare port: {same}")
        print(f"load average (1 min) before/after: {load_before:.2f}/{load_after:.2f}")
        print(f"machine: {benchlib.machine()}")
        if not same:
            sys.exit("the copies differ")
    finally:
        home.close()


if __name__ == "__main__":
    main()
