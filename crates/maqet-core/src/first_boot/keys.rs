//! The SSH keys of first-boot identity: the user's own public keys (`~/.ssh/*.pub`) and the
//! key pair maqet makes once for itself (`<data>/ssh/id_ed25519`, private key mode 0600).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{ErrorKind, MaqetError};

/// Largest `.pub` file read (an RSA-16384 key is ~2.8 KB).
const MAX_PUB_BYTES: u64 = 16 * 1024;

/// maqet's own private key under its data directory.
pub fn maqet_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ssh").join("id_ed25519")
}

/// A public key to inject, and the private key that goes with it when maqet knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPair {
    /// The `authorized_keys` line.
    pub public: String,
    /// The private key file, when it sits next to the `.pub` file.
    pub private: Option<PathBuf>,
}

/// maqet's own key pair, made with `ssh-keygen -t ed25519` the first time it is needed.
pub(crate) fn maqet_key(data_dir: &Path) -> Result<KeyPair, MaqetError> {
    let private = maqet_key_path(data_dir);
    let public = private.with_extension("pub");
    if !private.exists() || !public.exists() {
        generate(&private)?;
    }
    let line = read_pub(&public).ok_or_else(|| {
        MaqetError::new(
            ErrorKind::Failure,
            format!(
                "maqet's SSH public key {} is not a valid key; delete {} and its .pub file so that maqet makes a new pair",
                public.display(),
                private.display()
            ),
        )
    })?;
    Ok(KeyPair {
        public: line,
        private: Some(private),
    })
}

/// Makes the pair in a private temporary directory next to it, then renames both files into
/// place (the private key last): two maqets starting at once never see half a pair.
fn generate(private: &Path) -> Result<(), MaqetError> {
    let dir = private.parent().unwrap_or(Path::new("."));
    crate::dirs::create_private_dir(dir)?;
    let temp = dir.join(format!(".keygen-{}", uuid::Uuid::new_v4().simple()));
    crate::dirs::create_private_dir(&temp)?;
    let made = temp.join("id_ed25519");
    let result = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "maqet"])
        .arg("-f")
        .arg(&made)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let outcome = match result {
        Ok(out) if out.status.success() => {
            std::fs::rename(made.with_extension("pub"), private.with_extension("pub"))
                .and_then(|()| std::fs::rename(&made, private))
                .map_err(|e| {
                    MaqetError::io(
                        format!("cannot move the new SSH key to {}", private.display()),
                        e,
                    )
                })
        }
        Ok(out) => Err(MaqetError::new(
            ErrorKind::Failure,
            format!(
                "ssh-keygen could not make maqet's SSH key: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )),
        Err(e) => Err(MaqetError::with_source(
            ErrorKind::Failure,
            "cannot run ssh-keygen to make maqet's SSH key; install OpenSSH's client (Debian: openssh-client)",
            e,
        )),
    };
    let _ = std::fs::remove_dir_all(&temp);
    outcome
}

/// The user's own keys: every valid `~/.ssh/*.pub`, sorted by name, each with its private key
/// when that file exists.
pub(crate) fn user_keys(home: &Path) -> Vec<KeyPair> {
    let Ok(entries) = std::fs::read_dir(home.join(".ssh")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|file| {
            let public = read_pub(&file)?;
            let private = file.with_extension("");
            Some(KeyPair {
                public,
                private: private.is_file().then_some(private),
            })
        })
        .collect()
}

/// The first line of a `.pub` file when it is a regular file of sane size holding a valid key.
fn read_pub(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_PUB_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim().to_owned();
    maqet_seed::cloud_config::check_authorized_key(&line)
        .ok()
        .map(|()| line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maqet_makes_its_key_once_with_a_private_file_only_it_reads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = maqet_key(dir.path()).unwrap();
        let private = first.private.clone().unwrap();
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(first.public.starts_with("ssh-ed25519 "));
        assert_eq!(maqet_key(dir.path()).unwrap(), first);
    }

    #[test]
    fn user_keys_are_valid_pub_files_with_their_private_keys() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPT0cvPLq0p3Ife4oEwD4Z7I57MEkAlOfuAUUL7ko6Nw me";
        std::fs::write(ssh.join("id_ed25519.pub"), format!("{key}\n")).unwrap();
        std::fs::write(ssh.join("id_ed25519"), "private").unwrap();
        std::fs::write(ssh.join("other.pub"), key).unwrap();
        std::fs::write(ssh.join("junk.pub"), "not a key").unwrap();
        let keys = user_keys(home.path());
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].public, key);
        assert_eq!(
            keys[0].private.as_deref(),
            Some(ssh.join("id_ed25519").as_path())
        );
        assert_eq!(keys[1].private, None);
        assert!(user_keys(&home.path().join("none")).is_empty());
    }
}
