//! A test-only OpenSSH server on 127.0.0.1, for libvirt's `qemu+ssh://` transport.
//!
//! It listens on a free loopback port with a throw-away host key and accepts only a
//! throw-away client key generated for it; [`TestSshd::libvirt_uri`] gives a
//! `qemu+ssh://root@127.0.0.1:PORT/system` URI whose ssh command uses that key and a
//! known-hosts file of its own, so nothing in `~/.ssh` is read or written.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::QemuProcessGuard;

/// The running sshd; stopped on drop.
pub struct TestSshd {
    port: u16,
    dir: tempfile::TempDir,
    _server: QemuProcessGuard,
}

impl TestSshd {
    /// Starts sshd (Debian's `openssh-server`).
    ///
    /// # Panics
    /// When sshd or ssh-keygen is missing or the server does not listen.
    pub fn start() -> Self {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "/usr/sbin/sshd is missing: run scripts/setup.sh (apt-get install openssh-server)"
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = |name: &str| dir.path().join(name);
        for key in ["host_key", "client_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path(key))
                .status()
                .expect("ssh-keygen must run");
            assert!(status.success(), "ssh-keygen failed");
        }
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).expect("authorized_keys");
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {pid}\n",
            host = path("host_key").display(),
            auth = path("authorized_keys").display(),
            pid = path("sshd.pid").display(),
        );
        std::fs::write(path("sshd_config"), config).expect("sshd_config");
        let ssh = format!(
            "#!/bin/sh\nexec ssh -o UserKnownHostsFile={known} -o StrictHostKeyChecking=no \
             -o BatchMode=yes -F /dev/null \"$@\"\n",
            known = path("known_hosts").display()
        );
        std::fs::write(path("ssh"), ssh).expect("ssh wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path("ssh"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod ssh wrapper");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd must start");
        let server = QemuProcessGuard::new(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            port,
            dir,
            _server: server,
        }
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `qemu+ssh://root@127.0.0.1:PORT/system?keyfile=...&command=...`.
    pub fn libvirt_uri(&self) -> String {
        self.libvirt_uri_with_key(&self.dir.path().join("client_key"))
    }

    /// The same URI logging in with another private key (one sshd does not accept, to test a
    /// refused login).
    pub fn libvirt_uri_with_key(&self, key: &Path) -> String {
        let wrapper: PathBuf = self.dir.path().join("ssh");
        format!(
            "qemu+ssh://root@127.0.0.1:{}/system?keyfile={}&command={}&no_tty=1",
            self.port,
            key.display(),
            wrapper.display()
        )
    }

    /// A new private key that sshd does not accept.
    pub fn stranger_key(&self) -> PathBuf {
        let key = self.dir.path().join("stranger_key");
        if !key.exists() {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key)
                .status()
                .expect("ssh-keygen must run");
            assert!(status.success(), "ssh-keygen failed");
        }
        key
    }
}
