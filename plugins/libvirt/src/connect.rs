//! Opening a libvirt connection and sorting its errors.

use virt::connect::Connect;
use virt::enumutil::Enum;
use virt::error::{Error, ErrorNumber};

use crate::error::DeployError;

/// Opens `uri`; an unreachable host and a refused login get their own errors.
pub fn open(uri: &str) -> Result<Connect, DeployError> {
    // libvirt prints every error on stderr by default; maqet reports them itself.
    virt::error::clear_error_callback();
    Connect::open(Some(uri)).map_err(|source| {
        let uri = uri.to_owned();
        match source.code() {
            Enum::Known(
                ErrorNumber::AuthFailed | ErrorNumber::AuthCancelled | ErrorNumber::AuthUnavailable,
            ) => DeployError::AuthFailed { uri, source },
            _ if looks_like_auth(&source) => DeployError::AuthFailed { uri, source },
            _ => DeployError::Unreachable { uri, source },
        }
    })
}

/// ssh reports a refused key through the transport as a generic error.
fn looks_like_auth(error: &Error) -> bool {
    let text = error.message().to_ascii_lowercase();
    text.contains("permission denied") || text.contains("authentication")
}

/// Whether `error` says the object looked up does not exist.
pub fn is_missing(error: &Error) -> bool {
    matches!(
        error.code(),
        Enum::Known(
            ErrorNumber::NoDomain | ErrorNumber::NoStoragePool | ErrorNumber::NoStorageVolume
        )
    )
}

/// Wraps a libvirt error of `action` at `uri`.
pub fn failed(uri: &str, action: impl Into<String>) -> impl FnOnce(Error) -> DeployError {
    let uri = uri.to_owned();
    let action = action.into();
    move |source| DeployError::Libvirt {
        uri,
        action,
        source,
    }
}
