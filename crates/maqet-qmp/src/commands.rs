//! Typed wrappers for the QMP commands maqet uses.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::client::QmpClient;
use crate::error::QmpError;
use crate::keys;
use crate::types::{QemuVersion, StatusInfo};

impl QmpClient {
    /// `query-status`: the run state and whether vCPUs run.
    pub async fn query_status(&self) -> Result<StatusInfo, QmpError> {
        self.execute_as("query-status", None).await
    }

    /// `query-version`: the QEMU version.
    pub async fn query_version(&self) -> Result<QemuVersion, QmpError> {
        self.execute_as("query-version", None).await
    }

    /// `system_powerdown`: asks the guest to shut down (ACPI power button).
    pub async fn system_powerdown(&self) -> Result<(), QmpError> {
        self.execute_unit("system_powerdown", None).await
    }

    /// `quit`: makes QEMU exit at once; the connection closing right after the reply is fine.
    pub async fn quit(&self) -> Result<(), QmpError> {
        match self.execute_unit("quit", None).await {
            Err(QmpError::Closed) => Ok(()),
            other => other,
        }
    }

    /// `stop`: pauses the vCPUs.
    pub async fn stop(&self) -> Result<(), QmpError> {
        self.execute_unit("stop", None).await
    }

    /// `cont`: resumes the vCPUs (also starts a VM launched with `-S`).
    pub async fn cont(&self) -> Result<(), QmpError> {
        self.execute_unit("cont", None).await
    }

    /// `send-key`: presses `keys` (qcodes, see [`keys`]) together as one chord, then releases them.
    ///
    /// Key names are not checked here; QEMU rejects unknown ones with a `GenericError`. Use
    /// [`keys::validate_keys`] first for a friendlier error. `hold_time_ms` defaults to QEMU's
    /// 100 ms.
    pub async fn send_key(&self, keys: &[&str], hold_time_ms: Option<u32>) -> Result<(), QmpError> {
        let keys: Vec<Value> = keys
            .iter()
            .map(|k| json!({"type": "qcode", "data": k}))
            .collect();
        let mut args = Map::new();
        args.insert("keys".into(), Value::Array(keys));
        if let Some(ms) = hold_time_ms {
            args.insert("hold-time".into(), ms.into());
        }
        self.execute_unit("send-key", Some(Value::Object(args)))
            .await
    }

    /// Types `text` on a US keyboard layout, one `send-key` per character.
    ///
    /// The whole text is checked first ([`keys::text_to_chords`]); if any character has no key,
    /// nothing is sent.
    pub async fn type_text(&self, text: &str, hold_time_ms: Option<u32>) -> Result<(), QmpError> {
        let chords = keys::text_to_chords(text).map_err(QmpError::Untypeable)?;
        for chord in chords {
            self.send_key(&chord, hold_time_ms).await?;
        }
        Ok(())
    }

    /// `screendump`: writes the display to `filename` (PPM unless `format` says e.g. `"png"`).
    ///
    /// A relative `filename` is resolved against this process's current directory, not QEMU's.
    pub async fn screendump(&self, filename: &Path, format: Option<&str>) -> Result<(), QmpError> {
        let filename = absolute_utf8(filename)?;
        let mut args = Map::new();
        args.insert("filename".into(), filename.into());
        if let Some(format) = format {
            args.insert("format".into(), format.into());
        }
        self.execute_unit("screendump", Some(Value::Object(args)))
            .await
    }

    /// `device_add`: hot-plugs a device; `props` are extra properties such as `bus` or `drive`.
    pub async fn device_add(
        &self,
        driver: &str,
        id: &str,
        props: Map<String, Value>,
    ) -> Result<(), QmpError> {
        let mut args = props;
        args.insert("driver".into(), driver.into());
        args.insert("id".into(), id.into());
        self.execute_unit("device_add", Some(Value::Object(args)))
            .await
    }

    /// `device_del`: requests removal of a device; the guest may take time (`DEVICE_DELETED` event).
    pub async fn device_del(&self, id: &str) -> Result<(), QmpError> {
        self.execute_unit("device_del", Some(json!({"id": id})))
            .await
    }

    /// `query-block`: the block devices, as QEMU returns them.
    pub async fn query_block(&self) -> Result<Value, QmpError> {
        self.execute("query-block", None).await
    }

    /// `query-pci`: the PCI buses and devices, as QEMU returns them.
    pub async fn query_pci(&self) -> Result<Value, QmpError> {
        self.execute("query-pci", None).await
    }

    /// Runs a command whose `return` value carries no information.
    pub(crate) async fn execute_unit(
        &self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<(), QmpError> {
        self.execute(command, arguments).await.map(drop)
    }
}

/// Makes `path` absolute and checks it is UTF-8, so QEMU (with its own cwd) gets the right file.
fn absolute_utf8(path: &Path) -> Result<String, QmpError> {
    let absolute: PathBuf = std::path::absolute(path).map_err(|source| QmpError::RelativePath {
        path: path.to_owned(),
        source,
    })?;
    absolute
        .into_os_string()
        .into_string()
        .map_err(|raw| QmpError::NonUtf8Path(raw.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_screendump_path_becomes_absolute() {
        let got = absolute_utf8(Path::new("shot.ppm")).unwrap();
        assert!(Path::new(&got).is_absolute());
        assert!(got.ends_with("/shot.ppm"));
    }

    #[test]
    fn non_utf8_path_is_refused_before_sending() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff.ppm"));
        assert!(matches!(absolute_utf8(path), Err(QmpError::NonUtf8Path(_))));
    }
}
