//! The seed ISO as other tools see it: `isoinfo` (Debian package `genisoimage`) must list the
//! lowercase Rock Ridge and Joliet names and the `cidata` volume id. Skips when it is absent.

use std::process::Command;

use maqet_cloud_init::seed::{SeedFiles, build_seed_iso, default_meta_data};

fn isoinfo(args: &[&str]) -> Option<String> {
    let output = Command::new("isoinfo").args(args).output().ok()?;
    assert!(
        output.status.success(),
        "isoinfo {args:?} failed: {output:?}"
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn isoinfo_sees_nocloud_names_and_volume_id() {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("cidata.iso");
    let bytes = build_seed_iso(SeedFiles {
        user_data: b"#cloud-config\npassword: x\n".to_vec(),
        meta_data: default_meta_data("web"),
        network_config: Some(b"version: 2\n".to_vec()),
    })
    .unwrap();
    std::fs::write(&iso, bytes).unwrap();
    let iso = iso.to_str().unwrap();

    let Some(header) = isoinfo(&["-d", "-i", iso]) else {
        panic!("isoinfo is not installed (scripts/setup.sh installs genisoimage)");
    };
    assert!(header.contains("Volume id: cidata"), "{header}");
    assert!(header.contains("Joliet"), "{header}");
    assert!(header.contains("Rock Ridge"), "{header}");

    for listing_flag in ["-R", "-J"] {
        let listing = isoinfo(&[listing_flag, "-l", "-i", iso]).unwrap();
        for name in ["user-data", "meta-data", "network-config"] {
            assert!(
                listing.contains(name),
                "{listing_flag}: no {name} in\n{listing}"
            );
        }
    }
    let meta = isoinfo(&["-R", "-x", "/meta-data", "-i", iso]).unwrap();
    assert_eq!(meta, "instance-id: web\nlocal-hostname: web\n");
}
