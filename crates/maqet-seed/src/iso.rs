//! Building the NoCloud seed ISO: volume `cidata` with `user-data`, `meta-data` and
//! optionally `network-config`, readable under Rock Ridge and Joliet names.

use std::io::Cursor;
use std::sync::Arc;

use hadris_iso::joliet::JolietLevel;
use hadris_iso::read::PathSeparator;
use hadris_iso::rrip::RripOptions;
use hadris_iso::write::options::{BaseIsoLevel, CreationFeatures, IsoFormatOptions};
use hadris_iso::write::{File, InputFiles, IsoImageWriter};

use crate::SeedError;

/// The volume id cloud-init's NoCloud data source looks for.
pub const VOLUME_ID: &str = "cidata";

/// The files that go on the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFiles {
    /// `user-data` (cloud-config, script...).
    pub user_data: Vec<u8>,
    /// `meta-data`.
    pub meta_data: Vec<u8>,
    /// `network-config`, if any.
    pub network_config: Option<Vec<u8>>,
}

/// The `meta-data` used when the user gives none: the VM name as instance id and host name.
pub fn default_meta_data(vm: &str) -> Vec<u8> {
    format!("instance-id: {vm}\nlocal-hostname: {vm}\n").into_bytes()
}

/// Renders the seed as an ISO 9660 image with Rock Ridge and Joliet names.
pub fn build_seed_iso(files: SeedFiles) -> Result<Vec<u8>, SeedError> {
    let mut entries = vec![
        iso_file("user-data", files.user_data),
        iso_file("meta-data", files.meta_data),
    ];
    if let Some(network_config) = files.network_config {
        entries.push(iso_file("network-config", network_config));
    }
    let input = InputFiles {
        path_separator: PathSeparator::ForwardSlash,
        files: entries,
    };
    let options = IsoFormatOptions {
        volume_name: VOLUME_ID.to_owned(),
        system_id: None,
        volume_set_id: None,
        publisher_id: None,
        preparer_id: None,
        application_id: Some("maqet".to_owned()),
        sector_size: 2048,
        path_separator: PathSeparator::ForwardSlash,
        features: CreationFeatures {
            filenames: BaseIsoLevel::Level1 {
                supports_lowercase: false,
                supports_rrip: true,
            },
            joliet: Some(JolietLevel::Level3),
            rock_ridge: Some(RripOptions::default()),
            ..CreationFeatures::default()
        },
        strict_charset: false,
    };
    let image = IsoImageWriter::create(Cursor::new(Vec::new()), input, options)
        .map_err(|source| SeedError::BuildIso { source })?;
    Ok(image.into_inner())
}

fn iso_file(name: &str, contents: Vec<u8>) -> File {
    File::File {
        name: Arc::new(name.to_owned()),
        contents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_meta_data_names_the_vm() {
        let text = String::from_utf8(default_meta_data("web")).unwrap();
        assert_eq!(text, "instance-id: web\nlocal-hostname: web\n");
    }

    #[test]
    fn seed_iso_has_volume_id_and_contents() {
        let iso = build_seed_iso(SeedFiles {
            user_data: b"#cloud-config\n".to_vec(),
            meta_data: default_meta_data("web"),
            network_config: None,
        })
        .unwrap();
        // Primary volume descriptor at sector 16; volume id at offset 40, 32 bytes.
        let pvd = &iso[16 * 2048..17 * 2048];
        assert_eq!(&pvd[1..6], b"CD001");
        assert_eq!(
            std::str::from_utf8(&pvd[40..72]).unwrap().trim_end(),
            VOLUME_ID
        );
        let body = String::from_utf8_lossy(&iso);
        assert!(body.contains("#cloud-config"));
        assert!(body.contains("local-hostname: web"));
    }
}
