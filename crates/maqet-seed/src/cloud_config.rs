//! The seed's texts: `user-data` (`#cloud-config`), `meta-data` and `network-config`.
//!
//! Everything is written as JSON, which YAML (and so cloud-init) reads as it is: no value a
//! user gives can break out of its string and add keys of its own. The values are also
//! checked ([`check_user_name`], [`check_hostname`], [`check_authorized_key`]) so that a
//! mistake is reported by maqet, not found later in the guest's cloud-init log.

use serde_json::{Map, Value, json};

/// The first-boot identity of a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account cloud-init creates (with password-less sudo, password login locked).
    pub user: String,
    /// Its `authorized_keys` lines.
    pub ssh_authorized_keys: Vec<String>,
    /// The guest's host name.
    pub hostname: String,
}

/// Where the guest notes the machine id its last cloud-init instance ran with.
pub const MACHINE_ID_RECORD: &str = "/var/lib/cloud/maqet-machine-id";

/// The `bootcmd` step that gives each new cloud-init instance of a disk that already ran one
/// (a clone's copy of its source, a VM whose identity changed) a new `/etc/machine-id`.
///
/// `cloud-init-per instance` runs it once per instance id. It makes a new id only when
/// `/etc/machine-id` is still the one [`MACHINE_ID_RECORD`] noted for an earlier instance, so
/// the first boot of a fresh image keeps the id systemd has just made; then it notes the
/// current id. Services that read the id when they start (journald) see the new one from the
/// next boot on. A guest without `systemd-machine-id-setup` is left alone.
pub fn machine_id_bootcmd() -> Value {
    let script = format!(
        "command -v systemd-machine-id-setup >/dev/null || exit 0; \
         if [ -s {record} ] && [ \"$(cat {record})\" = \"$(cat /etc/machine-id)\" ]; then \
         rm -f /etc/machine-id && systemd-machine-id-setup >/dev/null || exit 1; \
         if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then \
         cp /etc/machine-id /var/lib/dbus/machine-id; fi; fi; \
         cp /etc/machine-id {record}",
        record = MACHINE_ID_RECORD
    );
    json!([
        "cloud-init-per",
        "instance",
        "maqet-machine-id",
        "sh",
        "-c",
        script
    ])
}

/// The generated cloud-config, as a mapping.
///
/// It creates the user (instead of the image's default one), sets the host name (and its
/// `/etc/hosts` line, so `sudo` can resolve it), turns off
/// password logins for SSH, makes sure the host keys are printed on the console, where
/// maqet reads them (see [`crate::host_keys`]), and gives a new instance of a disk that ran
/// another one its own machine id ([`machine_id_bootcmd`]).
pub fn generated_cloud_config(identity: &Identity) -> Map<String, Value> {
    let config = json!({
        "bootcmd": [machine_id_bootcmd()],
        "hostname": identity.hostname,
        "preserve_hostname": false,
        "manage_etc_hosts": true,
        "users": [{
            "name": identity.user,
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "lock_passwd": true,
            "ssh_authorized_keys": identity.ssh_authorized_keys,
        }],
        "ssh_pwauth": false,
        "ssh": {"emit_keys_to_console": true},
    });
    match config {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The `user-data` file.
///
/// `extra` is the config's `user_data`: a mapping's top-level keys are set over the generated
/// cloud-config (a key both have takes the user's value, so `users` replaces the generated
/// user); a string is the whole `user-data` as it is (a script, multipart, `#include`...), and
/// the identity is then the string's business.
pub fn user_data(identity: &Identity, extra: Option<&Value>) -> Vec<u8> {
    let mut config = generated_cloud_config(identity);
    match extra {
        Some(Value::String(raw)) => return raw.clone().into_bytes(),
        Some(Value::Object(user)) => {
            for (key, value) in user {
                config.insert(key.clone(), value.clone());
            }
        }
        _ => {}
    }
    let body = serde_json::to_string_pretty(&Value::Object(config)).unwrap_or_default();
    format!("#cloud-config\n{body}\n").into_bytes()
}

/// The `meta-data` file: the instance id (cloud-init runs its once-per-instance steps again
/// when it changes) and the host name.
pub fn meta_data(instance_id: &str, hostname: &str) -> Vec<u8> {
    let body = json!({"instance-id": instance_id, "local-hostname": hostname});
    format!("{body}\n").into_bytes()
}

/// The `network-config` file: a mapping written as JSON, a string as it is.
pub fn network_config(value: &Value) -> Vec<u8> {
    match value {
        Value::String(raw) => raw.clone().into_bytes(),
        other => format!(
            "{}\n",
            serde_json::to_string_pretty(other).unwrap_or_default()
        )
        .into_bytes(),
    }
}

/// Longest user name accepted (the `useradd` limit).
pub const MAX_USER_NAME: usize = 32;

/// A user name `useradd` accepts everywhere: a lower-case letter or `_`, then lower-case
/// letters, digits, `_` and `-`, at most [`MAX_USER_NAME`] characters; `root` is refused.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !first_ok || !rest_ok || name.len() > MAX_USER_NAME {
        return Err(format!(
            "`{name}` is not a portable user name: start with a lower-case letter or `_`, then use lower-case letters, digits, `_` and `-`, up to {MAX_USER_NAME} characters"
        ));
    }
    if name == "root" {
        return Err(
            "`root` cannot be the first-boot user; pick an ordinary user name (it gets sudo)"
                .into(),
        );
    }
    Ok(())
}

/// A host name: dot-separated labels of ASCII letters, digits and `-` (not at either end of a
/// label), each 1-63 characters, at most 253 in all.
pub fn check_hostname(name: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!(
            "`{name}` is not a valid host name: use letters, digits and `-` (not first or last) in dot-separated parts of 1-63 characters"
        ));
    }
    Ok(())
}

/// A host name made from a VM name: `_` becomes `-`, and other characters a host name cannot
/// have are dropped; `None` when nothing valid is left.
pub fn hostname_from_vm_name(vm: &str) -> Option<String> {
    let name: String = vm
        .chars()
        .map(|c| if c == '_' { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    let name = name.trim_matches(|c| c == '-' || c == '.').to_owned();
    check_hostname(&name).ok().map(|()| name)
}

/// Key types accepted in `authorized_keys` lines and host keys.
pub const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// An `authorized_keys` line: `TYPE BASE64 [COMMENT]` on one line, a known key type whose
/// base64 blob decodes and names the same type (no options such as `command=`).
pub fn check_authorized_key(line: &str) -> Result<(), String> {
    parse_public_key(line).map(drop)
}

/// A public key line split into its type and base64 blob, both checked; the comment is
/// returned as text when it is printable.
pub fn parse_public_key(line: &str) -> Result<(String, String, Option<String>), String> {
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err("a key must be one line without control characters".into());
    }
    let mut words = line.split_whitespace();
    let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
        return Err(format!(
            "`{}` is not a public key line like `ssh-ed25519 AAAA... comment`",
            shorten(line)
        ));
    };
    if !KEY_TYPES.contains(&kind) {
        return Err(format!(
            "key type `{}` is not one of {}",
            shorten(kind),
            KEY_TYPES.join(", ")
        ));
    }
    let decoded = decode_base64(blob)
        .ok_or_else(|| format!("the `{kind}` key's data is not valid base64"))?;
    let named = decoded
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| decoded.get(4..4 + n));
    if named != Some(kind.as_bytes()) {
        return Err(format!("the `{kind}` key's data is not a `{kind}` key"));
    }
    let comment: Vec<&str> = words.collect();
    let comment = (!comment.is_empty()).then(|| comment.join(" "));
    Ok((kind.to_owned(), blob.to_owned(), comment))
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests;
