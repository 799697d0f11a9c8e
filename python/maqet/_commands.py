# Generated from maqet's command registry (the #[api_method] declarations); do not edit.
# Regenerate: MAQET_UPDATE_DOCS=1 cargo test -p maqet-cli --test python_face
"""The methods of ``maqet.Maqet``: one per maqet command, with the command's parameters.

Each passes its arguments by name to the native ``_invoke``, which runs the command in the Rust
core (the same code as the CLI) and shapes its result. Types are in ``__init__.pyi``.
"""


class Commands:
    """The command methods of ``maqet.Maqet`` (a mixin over the native class)."""

    def add(self, config=None, name=None, empty=False, force=False, **kwargs):
        """Create a VM from YAML config files (merged left to right) and `--KEY VALUE` options.

        Files merge in order, then options apply on top. The name comes from `--name`, else the
        config's `name`, else a generated `vm-xxxxxxxx`. Prints the new VM's id. A host port in
        `ports` that another VM already forwards is refused unless `--force` is given.

        Parameters:
            config: YAML config files, merged left to right
            name: VM name (default: the config's `name`, else vm-xxxxxxxx)
            empty: Create a VM without any configuration, to fill in later with `apply`
            force: Add the VM even if another VM already forwards one of its host `ports`
            kwargs: VM config keys given as options, applied over the files

        Examples (the same command from the shell):
            $ maqet add base.yaml --name web
            $ maqet add base.yaml custom.yaml --memory 4G --cpu 2
            $ maqet add --vm-config base.yaml --vm-config disks.yaml --name db
            $ maqet add --name placeholder --empty
        """
        return self._invoke("add", {"config": config, "name": name, "empty": empty, "force": force, "set": kwargs})

    def apply(self, vm_id, config=None, force=False, **kwargs):
        """Merge config files and options into a VM's config, creating the VM if it is missing.

        Uses the same merge rules as `add`, so applying the same file twice changes nothing.
        A running VM is refused: stop it first. A new host port in `ports` that another VM
        already forwards is refused unless `--force` is given.

        Parameters:
            vm_id: VM name or id (created when missing)
            config: YAML config files, merged left to right
            force: Apply it even if another VM already forwards one of its new host `ports`
            kwargs: VM config keys given as options

        Examples (the same command from the shell):
            $ maqet apply web update.yaml
            $ maqet apply web --memory 8G --cpu 4
            $ maqet apply newvm base.yaml
        """
        return self._invoke("apply", {"vm": vm_id, "config": config, "force": force, "set": kwargs})

    def cleanup(self, dry_run=False, force=False):
        """Reset VMs recorded as running whose QEMU is gone.

        Such VMs are set to `stopped` with a reason, and their runtime directory is removed.
        A QEMU still running without its maqet runner gets a new runner, or is stopped with
        `--force`. `--dry-run` only shows what would be done.

        Parameters:
            dry_run: Show what would be cleaned without changing anything
            force: Also stop QEMU processes whose maqet runner has exited

        Examples (the same command from the shell):
            $ maqet cleanup --dry-run
            $ maqet cleanup
            $ maqet cleanup --force
        """
        return self._invoke("cleanup", {"dry_run": dry_run, "force": force})

    def clone(self, src, new, linked=False):
        """Copy a stopped VM into a new VM with its own disks (or qcow2 overlays with `--linked`).

        A full clone copies every writable qcow2/raw image with `qemu-img convert`; `--linked`
        creates qcow2 overlays backed by the source's images instead (fast and small, but the
        source must then stay unchanged). CD-ROMs, read-only drives and shared directories are
        used by both VMs. The new files belong to the clone: `rm --clean-storage` deletes them.

        The clone is its own machine: each host port the source forwards in `ports` becomes
        the next free one above it (2222 -> 2223), its host name is its own name (a source's
        `hostname` is replaced), and its first-boot files (cloud-init seed and instance-id)
        are not copied, so cloud-init runs again in it (new SSH host keys and machine id).

        Parameters:
            src: VM to clone (name or id)
            new: Name of the new VM
            linked: Create qcow2 overlays on the source's disks instead of copying them

        Examples (the same command from the shell):
            $ maqet clone web web-copy
            $ maqet clone base test-1 --linked
        """
        return self._invoke("clone", {"src": src, "new": new, "linked": linked})

    def console(self, vm):
        """Attach this terminal to the VM's serial console; Ctrl-] detaches.

        Everything the guest writes to its first serial port also goes to
        `<data>/vms/<name>/serial.log`, whether or not a console is attached.

        Parameters:
            vm: VM name or id

        Examples (the same command from the shell):
            $ maqet console web
        """
        return self._invoke("console", {"vm": vm})

    def cp(self, src, dst, recursive=False, force=False, max_bytes=None, via="auto"):
        """Copy a file or directory between the host and a guest (copy channel, SSH or agent).

        Exactly one of SRC and DST is `VM:/guest/path`. By default (`--via auto`) the copy goes
        through the VM's copy channel (a virtio-serial port of its own, added with the guest
        agent), else over SSH when the VM has an SSH forward (first-boot identity) and its sshd
        answers, checking the host key maqet learnt, else through the guest agent; the result
        says which, why a faster one was passed over, and the rate. Binary-safe, any size
        (1 MiB per agent call), with progress on a terminal.
        An existing destination file is only replaced with `--force`; directories need `-r`.
        The guest is not trusted: a copy to the host never writes outside DST or through a
        link, stops at the size the guest reported (and at `--max-bytes`), keeps only the
        permission bits, and leaves no partial file, even when interrupted. A copy to the guest
        sends links as links and keeps permission bits; when it fails it names the incomplete
        guest file.

        Parameters:
            src: Source: a host path or VM:/guest/path
            dst: Destination: a host path or VM:/guest/path
            recursive: Copy directories and their contents
            force: Replace existing destination files
            max_bytes: Most bytes a copy from the guest may write on the host (e.g. 10G)
            via: How to reach the guest: the copy channel when the VM has one, else SSH when its sshd answers, else the agent (auto), or only one of them

        Examples (the same command from the shell):
            $ maqet cp ./app.tar.gz web:/tmp/app.tar.gz
            $ maqet cp web:/var/log/messages ./messages
            $ maqet cp -r ./site web:/srv/
            $ maqet cp --force ./config web:/etc/app.conf
            $ maqet cp -r --max-bytes 10G web:/var/backups ./backups
            $ maqet cp --via agent ./big.iso web:/tmp/
        """
        return self._invoke("cp", {"src": src, "dst": dst, "recursive": recursive, "force": force, "max_bytes": max_bytes, "via": via})

    def doctor(self, fix=False):
        """Check the host and maqet's own files: QEMU, qemu-img, KVM, database, stale runtime files.

        Reports only; with `--fix` it also removes runtime directories of VMs that are not
        running, marks VMs whose QEMU is gone as stopped, and removes partial files that killed
        `cp` runs left. Orphaned images are listed, never deleted.

        Parameters:
            fix: Remove stale runtime directories and cp partial files, and reset stale VM states

        Examples (the same command from the shell):
            $ maqet doctor
            $ maqet doctor --fix
            $ maqet doctor --format json
        """
        return self._invoke("doctor", {"fix": fix})

    def events(self, vm, follow=False, until=None, timeout=None):
        """Print a VM's QMP events as JSON lines (recorded ones, then live ones with `--follow`).

        Parameters:
            vm: VM name or id
            follow: Keep printing new events as they happen
            until: Stop after this event (implies --follow)
            timeout: Give up after this many seconds (exit 2)

        Examples (the same command from the shell):
            $ maqet events web
            $ maqet events web --follow --until SHUTDOWN --timeout 60
        """
        return self._invoke("events", {"vm": vm, "follow": follow, "until": until, "timeout": timeout})

    def exec(self, vm, command=None, timeout=60, env=None, cwd=None, input=None):
        """Run a command inside the guest through its agent and pass its output and exit code through.

        Needs `guest_agent: true` and qemu-ga running in the guest. The command's stdout and
        stderr go to maqet's own, byte for byte, when it has finished, and maqet exits with the
        command's exit code (128 + N when signal N ended it), in every output format; a program
        the guest cannot start gives 127 (126 when it exists but cannot run), as in a shell, and
        output qemu-ga cut at 16 MiB gives a warning and exit 1 when the command succeeded. With
        `--format json` the result is `{exitcode, signal, stdout, stderr, truncated}`. After
        `--timeout` seconds maqet exits with status 2 and kills the command in the guest (with
        the guest's `kill`, when the agent allows it). `--cwd` runs the command through the
        guest's `sh`.

        Parameters:
            vm: VM name or id
            command: The command and its arguments, after `--`
            timeout: Seconds to wait for the command (exit 2 after)
            env: Environment variable for the command (repeatable)
            cwd: Guest directory to run the command in
            input: File whose bytes are the command's stdin (`-`: maqet's own stdin)

        Examples (the same command from the shell):
            $ maqet exec web -- uname -r
            $ maqet exec web --timeout 5 -- sh -c 'exit 7'
            $ maqet exec web --env LANG=C --cwd /tmp -- ls -la
            $ maqet exec web --input script.sh -- sh
            $ maqet exec web --format json -- cat /etc/hostname
        """
        return self._invoke("exec", {"vm": vm, "command": command, "timeout": timeout, "env": env, "cwd": cwd, "input": input})

    def info(self, vm_id):
        """Show a VM's configuration and the QEMU command line it produces.

        Parameters:
            vm_id: VM name or id

        Examples (the same command from the shell):
            $ maqet info web
            $ maqet info web --format json
        """
        return self._invoke("info", {"vm": vm_id})

    def inspect(self, vm_id):
        """Show a VM's status with live process facts (CPU, memory, threads, command line) and QMP.

        Parameters:
            vm_id: VM name or id

        Examples (the same command from the shell):
            $ maqet inspect web
            $ maqet inspect web --format json
        """
        return self._invoke("inspect", {"vm": vm_id})

    def ls(self, status=None):
        """List VMs with their status and QEMU PID.

        Parameters:
            status: Only VMs in this state

        Examples (the same command from the shell):
            $ maqet ls
            $ maqet ls --status running
            $ maqet ls --format json
        """
        return self._invoke("ls", {"status": status})

    def qmp(self, vm_id, command, **kwargs):
        """Run a raw QMP command on a running VM and print its result.

        Arguments come as `--NAME VALUE` (values are JSON when they parse, else strings) or as
        one `--args JSON` object. A QEMU error exits with status 1 and shows QEMU's class and
        description. Commands not on maqet's raw-QMP allow-list, or naming host paths outside your
        directories, are refused without `--allow-dangerous` (see docs/qmp-security.md).

        Parameters:
            vm_id: VM name or id
            command: QMP command, e.g. query-status
            kwargs: QMP arguments as --NAME VALUE

        Examples (the same command from the shell):
            $ maqet qmp web query-status
            $ maqet qmp web screendump --filename /tmp/web.ppm
            $ maqet qmp web device_add --args '{"driver": "virtio-rng-pci", "id": "rng0"}'
        """
        return self._invoke("qmp", {"vm": vm_id, "command": command, "arguments": kwargs})

    def rm(self, vm_id=None, force=False, all=False, clean_storage=False):
        """Remove VMs (or all VMs) from maqet.

        A running VM needs `--force`, which stops it first. `--clean-storage` deletes the files
        maqet created for the VM (disks, overlays, logs) and keeps files you pointed it at, and
        files another VM still uses (the source image of a linked clone); the result says why
        each kept file stayed. Several VMs are removed linked clones first, so a source's image
        goes too when all its clones go. `--all` asks for confirmation on a terminal unless
        `--force` is given.

        Parameters:
            vm_id: VM names or ids
            force: Remove running VMs too (stops them), and never ask
            all: Remove every VM
            clean_storage: Also delete the files maqet created for the VMs (disks, overlays, logs)

        Examples (the same command from the shell):
            $ maqet rm web
            $ maqet rm web --force --clean-storage
            $ maqet rm base clone-1 clone-2 --clean-storage
            $ maqet rm --all --force
        """
        return self._invoke("rm", {"vm": vm_id, "force": force, "all": all, "clean_storage": clean_storage})

    def snapshot(self, vm_id, action, drive, name=None, overwrite=False):
        """Create, load, list or delete an internal snapshot of one qcow2 drive.

        A stopped VM's image is changed with `qemu-img snapshot`; `create` on a drive whose image
        does not exist yet creates it first, as `start` would. On a running or paused VM,
        `create` and `delete` go through QEMU and hold the disk alone (pause the VM first for a
        consistent disk), while `--live` saves or restores through QEMU with the VM's RAM and
        device state too; `load` on a running VM needs `--live` or a stopped VM. `list` works
        either way. Only qcow2 drives hold snapshots, and
        purely numeric names are refused because QEMU confuses them with snapshot ids.

        Parameters:
            vm_id: VM name or id
            action: What to do
            drive: Drive name (from the VM's `storage` list)
            name: Snapshot name (create, load and delete)
            overwrite: Replace an existing snapshot of the same name (create)

        Examples (the same command from the shell):
            $ maqet snapshot web create hdd before-upgrade
            $ maqet snapshot web create hdd before-upgrade --overwrite
            $ maqet snapshot web list hdd --format json
            $ maqet snapshot web load hdd before-upgrade
            $ maqet snapshot web create hdd running-state --live
            $ maqet snapshot web delete hdd before-upgrade
        """
        return self._invoke("snapshot", {"vm": vm_id, "action": action, "drive": drive, "name": name, "overwrite": overwrite})

    def ssh(self, vm, command=None):
        """Log in to a VM with first-boot identity over SSH, or run a command there.

        Runs the system `ssh` in place of maqet (so a terminal works, and ssh's exit code is
        maqet's) as the VM's `user`, with maqet's key, on the host port forwarded to the guest's
        port 22, checking the host key maqet learnt at first boot (from the guest's console or
        its agent; see docs/ssh.md). With
        `--format json` it prints the `ssh` command line instead of running it.

        Parameters:
            vm: VM name or id
            command: A command to run instead of a login shell, after `--`

        Examples (the same command from the shell):
            $ maqet ssh web
            $ maqet ssh web -- uname -r
            $ maqet ssh web --format json
        """
        return self._invoke("ssh", {"vm": vm, "command": command})

    def ssh_config(self, vm=None):
        """Print `Host` blocks for VMs with first-boot identity, for `ssh -F` or an `Include`.

        Each block names the VM and gives its forwarded port, user, maqet's key and the VM's own
        `known_hosts`, so `ssh`, `scp`, `rsync`, VS Code and Ansible reach it by name. Without a
        VM, every VM that has started with first-boot identity. The port is the one chosen at
        the VM's last start.

        Parameters:
            vm: VM name or id (default: every VM with first-boot identity)

        Examples (the same command from the shell):
            $ maqet ssh-config web >> ~/.ssh/config.d/maqet
            $ maqet ssh-config > maqet.ssh && scp -F maqet.ssh file web:
        """
        return self._invoke("ssh-config", {"vm": vm})

    def start(self, vm_id):
        """Start a VM and wait until QEMU answers on QMP.

        Missing qcow2/raw images with a `size` are created first (under the VM's data
        directory unless the config names a file). With `--ephemeral` QEMU runs with `-snapshot`:
        nothing the guest writes reaches the disks.

        A VM saved by `stop --save` is restored instead of booted: the guest runs on where it
        was, and the saved state is removed. `--fresh` discards it and boots anew. A config
        or disk changed since the save refuses the restore. `--ephemeral --from-state NAME`
        restores a state kept by `stop --save-as NAME`, which stays for the next run.

        Parameters:
            vm_id: VM name or id

        Examples (the same command from the shell):
            $ maqet start web
            $ maqet start web --ephemeral --format json
            $ maqet start web --fresh
            $ maqet start web --ephemeral --from-state booted
        """
        return self._invoke("start", {"vm": vm_id})

    def status(self, vm_id, detailed=False):
        """Show a VM's status: state, PIDs, QMP socket and a config summary.

        Parameters:
            vm_id: VM name or id

        Examples (the same command from the shell):
            $ maqet status web
            $ maqet status web --format json
        """
        if detailed:
            import warnings

            warnings.warn(
                "status(detailed=True) is deprecated: use info() for the configuration and inspect() for process details",
                DeprecationWarning,
                stacklevel=2,
            )
            return self._status_detailed(vm_id)
        return self._invoke("status", {"vm": vm_id})

    def stop(self, vm_id, force=False, timeout=30, save=False):
        """Stop a VM: ACPI power-down, then quit, SIGTERM and SIGKILL as each step times out.

        The guest gets `--timeout` seconds to shut down: the ACPI power button is pressed at once
        and again every 5 s, and with `guest_agent: true` an answering guest agent is asked to
        power off too. `--force` skips both. The result says which step stopped the VM
        (`method`) and whether maqet had to end QEMU itself (`forced`).

        `--save` instead pauses the guest, writes its memory and device state to a file in the
        VM's data directory and ends QEMU (`method`: `saved`); the status becomes `saved` and
        the next `start` brings the guest back where it was. `--save-as NAME` writes a named
        state that `start --ephemeral --from-state NAME` restores any number of times.

        Parameters:
            vm_id: VM name or id
            force: Skip the graceful power-down
            timeout: Seconds the guest gets to power down
            save: Save the guest's memory and device state instead of powering it off; the next `start` restores it

        Examples (the same command from the shell):
            $ maqet stop web
            $ maqet stop web --timeout 60
            $ maqet stop web --force
            $ maqet stop web --save
            $ maqet stop web --save-as booted
        """
        return self._invoke("stop", {"vm": vm_id, "force": force, "timeout": timeout, "save": save})

    def storage_info(self, vm):
        """Show each drive of a VM: configured and resolved path, existence, format and sizes.

        Parameters:
            vm: VM name or id

        Examples (the same command from the shell):
            $ maqet storage-info web
            $ maqet storage-info web --format json
        """
        return self._invoke("storage-info", {"vm": vm})

    def wait(self, vm, serial=None, state=None, event=None, agent=False, tcp=None, ssh=False, screen_text=None, screen_match=None, screen_still=None, screen_change=False, timeout=60, region=None, threshold=None, record=None):
        """Wait until a VM prints a line on its serial console, reaches a state, or emits a QMP event.

        Exactly one of `--serial`, `--state`, `--event`, `--agent` (the guest agent answers),
        `--tcp PORT` (a forwarded port reaches a listening guest service) or `--ssh` (an SSH
        login as the first-boot user works), or one screen condition: `--screen-text REGEX` (OCR),
        `--screen-match NEEDLE`, `--screen-still SECONDS`, `--screen-change`. Exits with status 2
        on timeout; a screen wait then keeps its last picture and names it in the error.

        Parameters:
            vm: VM name or id
            serial: Regular expression to find in the serial console output
            state: VM state to wait for
            event: QMP event name to wait for
            agent: Wait until the guest agent answers (needs `guest_agent: true`)
            tcp: Wait until this forwarded TCP port (guest or host number) reaches a guest service
            ssh: Wait until an SSH login works (needs first-boot identity; see `maqet ssh`)
            screen_text: Regular expression to find in the screen's text (OCR)
            screen_match: Wait until this needle (PNG, or openQA .json) shows on the screen
            screen_still: Wait until the screen stays unchanged this many seconds
            screen_change: Wait until anything on the screen changes
            timeout: Give up after this many seconds (exit 2)
            region: Screen waits look only at X,Y,W,H (pixels)
            threshold: Screen waits: needle score, or share of equal pixels that is still no change (0-1)
            record: Screen waits keep a numbered picture of each change in DIR

        Examples (the same command from the shell):
            $ maqet wait web --serial 'login:' --timeout 120
            $ maqet wait web --state stopped
            $ maqet wait web --event SHUTDOWN
            $ maqet wait web --agent --timeout 120
            $ maqet wait web --tcp 22
            $ maqet wait web --ssh --timeout 400
            $ maqet wait web --screen-text 'login:' --timeout 120
            $ maqet wait web --screen-match needles/menu.json --threshold 0.9
            $ maqet wait web --screen-still 2 --region 0,0,640,480
        """
        return self._invoke("wait", {"vm": vm, "serial": serial, "state": state, "event": event, "agent": agent, "tcp": tcp, "ssh": ssh, "screen_text": screen_text, "screen_match": screen_match, "screen_still": screen_still, "screen_change": screen_change, "timeout": timeout, "region": region, "threshold": threshold, "record": record})

    def config_schema(self):
        """Print the JSON Schema of VM config files (for editors and CI checks).

        Examples (the same command from the shell):
            $ maqet config schema > maqet-vm.schema.json
        """
        return self._invoke("config schema", {})

    def config_validate(self, files=None):
        """Check VM config files without adding anything.

        Each file is checked on its own (errors name file, line and column), then the files are
        merged left to right and the result is checked too.

        Parameters:
            files: YAML config files

        Examples (the same command from the shell):
            $ maqet config validate vm.yaml
            $ maqet config validate base.yaml override.yaml
        """
        return self._invoke("config validate", {"files": files})

    def guest_info(self, vm):
        """Show what the guest agent reports: agent version and allowed commands, host name, OS and
        network interfaces.

        Parameters:
            vm: VM name or id

        Examples (the same command from the shell):
            $ maqet guest info web
            $ maqet guest info web --format json
        """
        return self._invoke("guest info", {"vm": vm})

    def image_ls(self):
        """List the cached images (digest, size, sources, VM disks using them) and partial downloads.

        Examples (the same command from the shell):
            $ maqet image ls
            $ maqet image ls --format json
        """
        return self._invoke("image ls", {})

    def image_prune(self):
        """Remove partial downloads and every cached image that no existing VM disk uses.

        Examples (the same command from the shell):
            $ maqet image prune
        """
        return self._invoke("image prune", {})

    def image_pull(self, source, sha256=None, checksums=None):
        """Download an image (or copy a local file) into the image cache, checking its SHA-256.

        The cache is `$XDG_CACHE_HOME/maqet/images`; images are stored by digest, so pulling
        again is free. An interrupted download is resumed by the next pull of the same URL.
        Without `--sha256` or `--checksums` the image is taken as it arrives and its digest is
        printed (put it in the VM config's `sha256:`).

        Parameters:
            source: URL (http or https) or path of the image
            sha256: Expected SHA-256 digest of the image
            checksums: URL or path of a SHA256SUMS file that lists the image

        Examples (the same command from the shell):
            $ maqet image pull https://example.org/debian-12-genericcloud-amd64.qcow2 --checksums https://example.org/SHA256SUMS
            $ maqet image pull ./base.qcow2 --sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        """
        return self._invoke("image pull", {"source": source, "sha256": sha256, "checksums": checksums})

    def image_rm(self, image, force=False):
        """Remove a cached image, named by digest (or its first 8+ characters) or by its source.

        An image that a VM disk still uses as its backing file is kept unless `--force` (the
        VM would no longer start).

        Parameters:
            image: Digest, digest prefix, URL or path
            force: Remove it even when VM disks use it

        Examples (the same command from the shell):
            $ maqet image rm 9f86d081
            $ maqet image rm https://example.org/base.qcow2
        """
        return self._invoke("image rm", {"image": image, "force": force})

    def device_add(self, vm_id, driver, device_id, **kwargs):
        """Hot-plug a device; extra `--PROP VALUE` options become device properties.

        Parameters:
            vm_id: VM name or id
            driver: Device driver, e.g. virtio-rng-pci
            device_id: Id of the new device
            kwargs: Device properties as --PROP VALUE

        Examples (the same command from the shell):
            $ maqet qmp device-add web virtio-rng-pci --device-id rng0
            $ maqet qmp device-add web usb-storage --device-id usb1 --drive usb-drive
        """
        return self._invoke("qmp device-add", {"vm": vm_id, "driver": driver, "device_id": device_id, "props": kwargs})

    def device_del(self, vm_id, device_id):
        """Hot-unplug a device by id.

        Parameters:
            vm_id: VM name or id
            device_id: Device id

        Examples (the same command from the shell):
            $ maqet qmp device-del web rng0
        """
        return self._invoke("qmp device-del", {"vm": vm_id, "device_id": device_id})

    def qmp_key(self, vm_id, *keys, hold_time=100):
        """Press keys together (a chord) on the VM's keyboard, e.g. `ctrl alt f2`.

        Parameters:
            vm_id: VM name or id
            keys: Key names (QEMU qcodes: a, ret, spc, ctrl, alt, f2, ...)
            hold_time: How long the keys stay pressed, in ms

        Examples (the same command from the shell):
            $ maqet qmp keys web ctrl alt f2
            $ maqet qmp keys web --hold-time 50 ctrl l
            $ maqet qmp keys web ret
        """
        return self._invoke("qmp keys", {"vm": vm_id, "keys": keys, "hold_time": hold_time})

    def press_keys(self, vm_id, *keys, hold_time=100, record=None):
        """Press keys together (a chord) on the VM's keyboard, e.g. `ctrl alt f2`.

        Parameters:
            vm_id: VM name or id
            keys: Key names (QEMU qcodes: a, ret, spc, ctrl, alt, f2, ...)
            hold_time: How long the keys stay pressed, in ms
            record: Keep a numbered screen picture after the keys in DIR

        Examples (the same command from the shell):
            $ maqet qmp keys web ctrl alt f2
            $ maqet qmp keys web --hold-time 50 ctrl l
            $ maqet qmp keys web ret
        """
        return self._invoke("qmp keys", {"vm": vm_id, "keys": keys, "hold_time": hold_time, "record": record})

    def qmp_mouse_click(self, vm, button="left", at=None, double=False, hold=None):
        """Click a mouse button (at `--at X,Y` when given), optionally twice or with keys held.

        Parameters:
            vm: VM name or id
            button: left, right or middle
            at: Move there first: X,Y in screen pixels
            double: Click twice
            hold: Keys held during the click, e.g. "ctrl shift"

        Examples (the same command from the shell):
            $ maqet qmp mouse-click web --at 320,200
            $ maqet qmp mouse-click web --button right
            $ maqet qmp mouse-click web --at 10,10 --double --hold ctrl
        """
        return self._invoke("qmp mouse-click", {"vm": vm, "button": button, "at": at, "double": double, "hold": hold})

    def qmp_mouse_move(self, vm, x, y):
        """Move the pointer to X,Y (screen pixels); needs `pointer: tablet` in the VM's config.

        Parameters:
            vm: VM name or id
            x: X in screen pixels
            y: Y in screen pixels

        Examples (the same command from the shell):
            $ maqet qmp mouse-move web 320 200
        """
        return self._invoke("qmp mouse-move", {"vm": vm, "x": x, "y": y})

    def qmp_mouse_scroll(self, vm, steps):
        """Turn the mouse wheel: positive steps scroll down, negative up.

        Parameters:
            vm: VM name or id
            steps: Wheel steps: positive down, negative up

        Examples (the same command from the shell):
            $ maqet qmp mouse-scroll web 3
            $ maqet qmp mouse-scroll web -- -2
        """
        return self._invoke("qmp mouse-scroll", {"vm": vm, "steps": steps})

    def qmp_stop(self, vm_id):
        """Pause the VM's CPUs (QMP `stop`); returns once `status` says `paused`.

        Parameters:
            vm_id: VM name or id

        Examples (the same command from the shell):
            $ maqet qmp pause web
        """
        return self._invoke("qmp pause", {"vm": vm_id})

    def qmp_cont(self, vm_id):
        """Resume the VM's CPUs (QMP `cont`); returns once `status` says `running`.

        Parameters:
            vm_id: VM name or id

        Examples (the same command from the shell):
            $ maqet qmp resume web
        """
        return self._invoke("qmp resume", {"vm": vm_id})

    def qmp_run(self, vm, command, args=None, allow_dangerous=False, **arguments):
        """Run a raw QMP command (the same as `maqet qmp VM COMMAND`).

        Parameters:
            vm: VM name or id
            command: QMP command
            args: All arguments as one JSON object
            allow_dangerous: Allow commands that can take over the host or guest
            arguments: QMP arguments as --NAME VALUE

        Examples (the same command from the shell):
            $ maqet qmp run web query-status
            $ maqet qmp run web query-block --format json
        """
        return self._invoke("qmp run", {"vm": vm, "command": command, "args": args, "allow_dangerous": allow_dangerous, "arguments": arguments})

    def screendump(self, vm_id, filename):
        """Save the VM's screen to a file (PPM as QEMU writes it, or PNG with `--png`).

        Parameters:
            vm_id: VM name or id
            filename: Output file (relative to the current directory)

        Examples (the same command from the shell):
            $ maqet qmp screendump web screen.ppm
            $ maqet qmp screendump web screen.png --png
        """
        return self._invoke("qmp screendump", {"vm": vm_id, "file": filename})

    def qmp_type(self, vm_id, text, hold_time=100):
        """Type text on the VM's keyboard (US layout). Every character is checked before any is sent.

        Parameters:
            vm_id: VM name or id
            text: Text to type
            hold_time: How long each key stays pressed, in ms

        Examples (the same command from the shell):
            $ maqet qmp type web 'echo hello'
            $ maqet qmp type web root --hold-time 50
        """
        return self._invoke("qmp type", {"vm": vm_id, "text": text, "hold_time": hold_time})

    def type_text(self, vm_id, text, hold_time=100, *, delay=0, record=None):
        """Type text on the VM's keyboard (US layout). Every character is checked before any is sent.

        Parameters:
            vm_id: VM name or id
            text: Text to type
            hold_time: How long each key stays pressed, in ms
            delay: Pause after each key, in ms (for guests that drop fast typing)
            record: Keep a numbered screen picture after typing in DIR

        Examples (the same command from the shell):
            $ maqet qmp type web 'echo hello'
            $ maqet qmp type web root --hold-time 50
        """
        return self._invoke("qmp type", {"vm": vm_id, "text": text, "hold_time": hold_time, "delay": delay, "record": record})

    def screen_find(self, vm, needle, threshold=None, region=None):
        """Find a needle image (PNG, or an openQA needle `.json` beside its `.png`) on a VM's screen
        and print its best score and place.

        Parameters:
            vm: VM name or id
            needle: Needle: a PNG, or an openQA needle .json beside its .png
            threshold: Score needed, 0-1 (default: the needle's, else 0.96)
            region: Search only this part of the screen: X,Y,W,H in pixels

        Examples (the same command from the shell):
            $ maqet screen find web needles/login.png
            $ maqet screen find web needles/grub.json --threshold 0.9 --region 0,0,640,200
        """
        return self._invoke("screen find", {"vm": vm, "needle": needle, "threshold": threshold, "region": region})

    def screen_text(self, vm, region=None):
        """Print the text on a VM's screen, read by OCR (Tesseract).

        Parameters:
            vm: VM name or id
            region: Read only this part of the screen: X,Y,W,H in pixels

        Examples (the same command from the shell):
            $ maqet screen text web
            $ maqet screen text web --region 0,0,640,32
        """
        return self._invoke("screen text", {"vm": vm, "region": region})

    def state_rebuild(self):
        """Recreate the VM registry from each VM's record file and re-adopt running QEMUs.

        Every VM keeps a copy of its definition and identity (id, name, config, creation time,
        QEMU and runner processes) in `<data>/vms/<id>/vm.json`. A damaged database file is
        moved into `<data>/backups/` first; then every VM missing from the registry gets its row
        back, and a QEMU still running for a VM gets a new runner.

        Examples (the same command from the shell):
            $ maqet state rebuild
            $ maqet state rebuild --format json
        """
        return self._invoke("state rebuild", {})

    def storage_attach(self, name, path, config):
        """Create a VM from a config file with an existing image added as a drive.

        The image (qcow2, raw or ISO) is added to the VM's `storage` list, as a drive named
        after the file, and registered as yours: `rm --clean-storage` never deletes it.

        Parameters:
            name: Name of the new VM
            path: Existing image file to attach
            config: VM config file for the new VM

        Examples (the same command from the shell):
            $ maqet storage attach web ~/images/debian.qcow2 base.yaml
        """
        return self._invoke("storage attach", {"name": name, "path": path, "config": config})

    def storage_orphaned(self):
        """List files under maqet's data directory that no VM uses.

        Looks at every file under `<data>/vms/` (images of any extension, logs of removed VMs,
        leftovers of failed creates) and reports those that no VM's config, no registered
        storage entry and no image's backing chain refers to. Nothing is deleted.

        Examples (the same command from the shell):
            $ maqet storage orphaned
            $ maqet storage orphaned --format json
        """
        return self._invoke("storage orphaned", {})

    def storage_verify(self, vm):
        """Check that every storage file of a VM exists and is a readable image of the right format.

        Checks the drives in the VM's config and the files registered for it. A missing
        writable image with a `size` is reported as `not-created-yet` (start creates it), not
        as a problem. Prints a report; `ok` is false when any file has a problem.

        Parameters:
            vm: VM name or id

        Examples (the same command from the shell):
            $ maqet storage verify web
        """
        return self._invoke("storage verify", {"vm": vm})
