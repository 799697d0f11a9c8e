use serde_json::json;

use super::*;

fn error_at(value: Value) -> (String, String) {
    let err = parse_drives(&value).unwrap_err();
    let at = err
        .config_path()
        .expect("config errors carry a location")
        .to_owned();
    (at, err.to_string())
}

#[test]
fn minimal_drive_gets_defaults() {
    let drives = parse_drives(&json!([{"name": "hdd", "size": "10G"}])).unwrap();
    let expected = DriveSpec {
        size: Some(ByteSize(10 << 30)),
        ..DriveSpec::new("hdd")
    };
    assert_eq!(drives, vec![expected]);
}

#[test]
fn full_image_and_virtfs_items_parse() {
    let drives = parse_drives(&json!([
        {"name": "hdd", "type": "QCOW2", "file": "disks/a.qcow2", "interface": "sata",
         "backing_file": "base.qcow2", "backing_format": "qcow2", "cache": "writeback"},
        {"name": "share", "type": "virtfs", "path": "/srv/share", "mount_tag": "hostshare",
         "security_model": "mapped-xattr", "readonly": true},
    ]))
    .unwrap();
    assert_eq!(drives[0].interface, Interface::Sata);
    assert_eq!(drives[0].backing_format.as_deref(), Some("qcow2"));
    assert_eq!(drives[0].cache.as_deref(), Some("writeback"));
    // Bug S1-4: item-level virtfs keys are honoured.
    assert_eq!(drives[1].effective_mount_tag(), "hostshare");
    assert_eq!(drives[1].security_model, Some(SecurityModel::MappedXattr));
    assert!(drives[1].readonly);
}

#[test]
fn cdrom_defaults_to_raw_and_read_only() {
    let drives = parse_drives(
        &json!([{"name": "cd", "media": "cdrom", "file": "x.iso", "interface": "ide"}]),
    )
    .unwrap();
    assert_eq!(drives[0].kind, DriveKind::Raw);
    assert!(drives[0].readonly);
}

#[test]
fn unknown_field_suggests_the_closest_name() {
    let (at, msg) = error_at(json!([{"name": "a"}, {"name": "b", "szie": "1G"}]));
    assert_eq!(at, "storage[1].szie");
    assert!(msg.contains("did you mean `size`?"), "{msg}");
}

#[test]
fn legacy_options_mapping_gets_a_hint() {
    let (at, msg) = error_at(
        json!([{"name": "s", "type": "virtfs", "path": "/x", "options": {"readonly": true}}]),
    );
    assert_eq!(at, "storage[0].options");
    assert!(msg.contains("directly on the drive"), "{msg}");
}

#[test]
fn errors_point_at_the_bad_value() {
    let cases = [
        (json!({"name": "a"}), "storage"),
        (json!(["a"]), "storage[0]"),
        (json!([{"size": "1G"}]), "storage[0].name"),
        (json!([{"name": "a.b"}]), "storage[0].name"),
        (json!([{"name": "0disk"}]), "storage[0].name"),
        (json!([{"name": "a".repeat(32)}]), "storage[0].name"),
        (json!([{"name": 7}]), "storage[0].name"),
        (json!([{"name": "a", "size": "banana"}]), "storage[0].size"),
        (json!([{"name": "a", "size": "0"}]), "storage[0].size"),
        (json!([{"name": "a", "size": "-1G"}]), "storage[0].size"),
        (json!([{"name": "a", "size": true}]), "storage[0].size"),
        (json!([{"name": "a", "type": "vmdk"}]), "storage[0].type"),
        (
            json!([{"name": "a", "interface": "usb"}]),
            "storage[0].interface",
        ),
        (
            json!([{"name": "a", "readonly": "yes"}]),
            "storage[0].readonly",
        ),
        (json!([{"name": "a", "cache": "fast"}]), "storage[0].cache"),
        (json!([{"name": "a", "type": "virtfs"}]), "storage[0].path"),
        (
            json!([{"name": "a", "type": "virtfs", "path": "/x", "size": "1G"}]),
            "storage[0].size",
        ),
        (json!([{"name": "a", "path": "/x"}]), "storage[0].path"),
        (
            json!([{"name": "a", "type": "raw", "backing_file": "b"}]),
            "storage[0].backing_file",
        ),
        (
            json!([{"name": "a", "backing_format": "raw"}]),
            "storage[0].backing_format",
        ),
        (json!([{"name": "a", "media": "cdrom"}]), "storage[0].file"),
        (
            json!([{"name": "a", "media": "cdrom", "file": "x", "readonly": false}]),
            "storage[0].readonly",
        ),
        (
            json!([{"name": "a", "media": "cdrom", "file": "x", "size": "1G"}]),
            "storage[0].size",
        ),
        (json!([{"name": "a", "file": ""}]), "storage[0].file"),
        (json!([{"name": "a"}, {"name": "a"}]), "storage[1].name"),
        (
            json!([{"name": "a", "type": "virtfs", "path": "/x"}, {"name": "b", "type": "virtfs", "path": "/y", "mount_tag": "a"}]),
            "storage[1].mount_tag",
        ),
    ];
    for (value, expected) in cases {
        let (at, msg) = error_at(value.clone());
        assert_eq!(at, expected, "{value} -> {msg}");
    }
}

#[test]
fn cdrom_type_gets_a_useful_hint() {
    let (_, msg) = error_at(json!([{"name": "a", "type": "cdrom"}]));
    assert!(msg.contains("media: cdrom"), "{msg}");
}

#[test]
fn error_messages_read_well() {
    let msgs: Vec<String> = [
        json!([{"name": "a", "size": "banana"}]),
        json!([{"name": "a"}, {"name": "a"}]),
        json!([{"name": "a", "interfce": "sata"}]),
    ]
    .into_iter()
    .map(|v| parse_drives(&v).unwrap_err().to_string())
    .collect();
    insta::assert_snapshot!(msgs.join("\n"));
}

#[test]
fn null_is_an_empty_list_and_serde_round_trips() {
    assert!(parse_drives(&Value::Null).unwrap().is_empty());
    let drives = parse_drives(&json!([
        {"name": "hdd", "size": "4G", "interface": "scsi"},
        {"name": "share", "type": "virtfs", "path": "/srv", "security_model": "none"},
    ]))
    .unwrap();
    let stored = serde_json::to_value(&drives).unwrap();
    assert_eq!(stored[0]["size"], json!("4G"));
    assert_eq!(stored[0]["type"], json!("qcow2"));
    let back: Vec<DriveSpec> = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(back, drives);
    assert_eq!(parse_drives(&stored).unwrap(), drives);
}
