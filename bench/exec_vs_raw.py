"""`maqet exec VM -- /bin/true` against the raw agent round trip it wraps (issue Q §1).

Boots the test guest (busybox + Debian's qemu-ga, TCG, 256M) with `guest_agent: true` in a
throw-away home. The raw side needs an agent channel of its own: QEMU serves a chardev socket to
one client at a time and the VM's runner holds `qga.sock`, so the guest gets a second
virtio-serial port (`org.maqet.bench.qga`, chardev socket `raw-qga.sock` in the home) and a
second qemu-ga on it, started through `maqet exec`. Both sides then go through the same virtio
transport to the same qemu-ga binary in the same guest.

Each round times, interleaved in alternating order:
- maqet: one whole `maqet exec bench -- /bin/true` process (parse, VM lookup, the runner's
  agent.sock, guest-exec and the wait for its end, output);
- the runner alone: the same request the CLI sends (`maqet-exec-and-wait`) written straight to
  the runner's agent.sock, so the CLI's share and the relay's share can be told apart;
- raw: on a connection opened (and synced with `guest-sync-delimited`) once beforehand,
  `guest-exec` of /bin/true with captured output, then `guest-exec-status` every 1 ms until it
  has exited.
Each round also spawns `maqet --version` and `/bin/true` the same way, for context: what starting
the maqet binary costs, and what starting any process costs (the raw client, inside this Python
process, pays neither; the figure keeps that strict comparison).
Reports median and min of each and the ratio of medians (target <= 1.2x). A run that starts with
a 1-minute load above 1.0 is marked NOT COMPARABLE (benchlib.Bench).
With `--debian`, the guest is the real Debian one (tests/guest/build-debian.sh; 1 GiB, its own
qcow2 overlay, systemd and Debian's qemu-ga) instead of busybox.
Usage: exec_vs_raw.sh [ROUNDS] [--debian]   (default 41)
"""

import json
import socket
import statistics
import sys
import time

import benchlib
from debian_guest import debian_image

TARGET_RATIO = 1.2
RAW_PORT = "org.maqet.bench.qga"
POLL_S = 0.001


def guest_config(name, raw_socket, debian):
    """The test guest (busybox, or the Debian one) with maqet's agent channel plus a second
    port for the raw client."""
    if debian:
        guest = (
            f"name: {name}\nbinary: qemu-system-x86_64\nmemory: 1G\ncpu: 1\naccel: tcg\n"
            f"display: none\nguest_agent: true\nstorage:\n"
            f"  - {{name: hdd, type: qcow2, size: 4G, from: \"{debian_image()}\"}}\narguments:\n"
        )
    else:
        kernel, initrd = benchlib.test_guest()
        guest = (
            f"name: {name}\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\n"
            f"display: none\nguest_agent: true\narguments:\n"
            f"  - kernel: {kernel}\n  - initrd: {initrd}\n"
            f"  - append: \"console=ttyS0 panic=-1 quiet\"\n  - no-reboot: null\n"
        )
    return guest + (
        f"  - chardev: socket,id=rawqga,path={raw_socket},server=on,wait=off\n"
        f"  - device: virtio-serial-pci,id=rawserial\n"
        f"  - device: virtserialport,bus=rawserial.0,chardev=rawqga,name={RAW_PORT}\n"
    )


# Starts a second qemu-ga (own state dir and pid file) on the raw port; exit 9 when there is none.
SECOND_AGENT = (
    "for p in /sys/class/virtio-ports/*; do "
    f"[ \"$(cat $p/name)\" = {RAW_PORT} ] || continue; "
    "mkdir -p /tmp/qga-raw; "
    "exec /usr/sbin/qemu-ga -d -m virtio-serial -p /dev/${p##*/} -t /tmp/qga-raw -f /tmp/qga-raw.pid; "
    "done; exit 9"
)


class RawAgent:
    """A bare qemu-ga client: newline-framed JSON, synced once with `guest-sync-delimited`."""

    def __init__(self, path, timeout=60.0):
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.sock.settimeout(5.0)
        self.buffer = b""
        sync_id = int(time.time() * 1000) % (1 << 40)
        while True:
            self.sock.sendall(b"\xff" + json.dumps(
                {"execute": "guest-sync-delimited", "arguments": {"id": sync_id}}).encode() + b"\n")
            try:
                while True:
                    reply = self.reply()
                    if reply.get("return") == sync_id:
                        return
            except socket.timeout:
                if time.monotonic() > deadline:
                    sys.exit("the second qemu-ga never answered its sync")
                sync_id += 1

    def reply(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                sys.exit("the raw agent channel closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        line = line.lstrip(b"\xff").strip()
        return json.loads(line) if line else {}

    def call(self, command, arguments=None):
        request = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            reply = self.reply()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"{command}: {reply['error']}")

    def exec_true_ms(self):
        """One guest-exec of /bin/true, polled every 1 ms until it exited; wall time in ms."""
        t0 = time.perf_counter()
        pid = self.call("guest-exec", {"path": "/bin/true", "arg": [], "capture-output": True})["pid"]
        while True:
            status = self.call("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                break
            time.sleep(POLL_S)
        ms = (time.perf_counter() - t0) * 1000
        if status.get("exitcode") != 0:
            raise RuntimeError(f"/bin/true ended with {status}")
        return ms

    def close(self):
        self.sock.close()


def runner_exec_true_ms(socket_path):
    """One `maqet-exec-and-wait` of /bin/true straight on the runner's agent.sock (a new
    connection, as the CLI makes): the relay's share without the CLI process; wall time in ms."""
    request = json.dumps({"execute": "maqet-exec-and-wait", "timeout_ms": 60000,
                          "arguments": {"path": "/bin/true", "arg": [], "capture-output": True}})
    t0 = time.perf_counter()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(socket_path))
        sock.sendall(request.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    ms = (time.perf_counter() - t0) * 1000
    reply = json.loads(answer)
    if reply.get("return", {}).get("exitcode") != 0:
        raise RuntimeError(f"/bin/true through agent.sock: {reply}")
    return ms


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 41
    debian = "--debian" in sys.argv
    guest = "real Debian guest" if debian else "busybox guest"
    bench = benchlib.Bench("exec_vs_raw" + (" --debian" if debian else ""))
    home = benchlib.Home()
    raw = None
    try:
        raw_socket = home.root / "raw-qga.sock"
        home.add_config("bench", guest_config("bench", raw_socket, debian))
        home.run("start", "bench")
        home.run("wait", "bench", "--agent", "--timeout", "900" if debian else "300")
        home.run("exec", "bench", "--", "sh", "-c", SECOND_AGENT)
        raw = RawAgent(raw_socket)
        time.sleep(10 if debian else 3)  # let the guest settle after boot
        maqet_argv = home.argv("exec", "bench", "--", "/bin/true")
        # Untimed warm-up of both sides (page cache, first DB open, the agents' first exec).
        for _ in range(3):
            benchlib.spawn_ms(maqet_argv, home.env)
            raw.exec_true_ms()
        vm_id = home.json("info", "bench")["vm_id"]
        agent_socket = home.root / "runtime" / "vms" / vm_id / "agent.sock"
        version_argv = [str(benchlib.MAQET), "--version"]
        true_argv = ["/bin/true"]
        maqet_ms, raw_ms, runner_ms, version_ms, true_ms = [], [], [], [], []
        for i in range(rounds):
            for side in ("maqet", "raw", "runner") if i % 2 == 0 else ("runner", "raw", "maqet"):
                if side == "maqet":
                    maqet_ms.append(benchlib.spawn_ms(maqet_argv, home.env))
                elif side == "runner":
                    runner_ms.append(runner_exec_true_ms(agent_socket))
                else:
                    raw_ms.append(raw.exec_true_ms())
            version_ms.append(benchlib.spawn_ms(version_argv, home.env))
            true_ms.append(benchlib.spawn_ms(true_argv, home.env))
            print(f"round {i + 1}: maqet {maqet_ms[-1]:.2f} ms, runner's agent.sock "
                  f"{runner_ms[-1]:.2f} ms, raw {raw_ms[-1]:.2f} ms", flush=True)
        ratio = statistics.median(maqet_ms) / statistics.median(raw_ms)
        print()
        print("| side | median ms | min ms | n |")
        print("|---|---|---|---|")
        for label, times in (("`maqet exec VM -- /bin/true`", maqet_ms),
                             ("the runner's `agent.sock` alone (`maqet-exec-and-wait`, no CLI)", runner_ms),
                             ("raw qemu-ga client, 1 ms polls", raw_ms),
                             ("`maqet --version` (process start alone)", version_ms),
                             ("`/bin/true` (any process start from here: the floor)", true_ms)):
            print(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f} | {len(times)} |")
        cli = statistics.median(maqet_ms) - statistics.median(runner_ms)
        relay = statistics.median(runner_ms) - statistics.median(raw_ms)
        print(f"where maqet's extra time goes (medians): the CLI process {cli:.2f} ms "
              f"(of which process start {statistics.median(version_ms):.2f} ms), the runner's relay "
              f"and its status polls {relay:.2f} ms")
        print(f"ratio of medians: {ratio:.3f} (target <= {TARGET_RATIO})")
        bench.figure(
            f"`maqet exec VM -- /bin/true` vs a raw qemu-ga client with 1 ms polls, {guest} "
            f"({rounds} interleaved rounds)",
            f"≤ {TARGET_RATIO:.2f}×",
            f"**{ratio:.2f}×**: maqet {benchlib.med_min(maqet_ms)}; raw {benchlib.med_min(raw_ms)}; "
            f"the runner's agent.sock alone {benchlib.med_min(runner_ms)} (CLI {cli:.1f} ms, relay "
            f"{relay:.1f} ms)",
            ratio <= TARGET_RATIO,
        )
        print(f"machine: {benchlib.machine()}")
    finally:
        if raw is not None:
            raw.close()
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
