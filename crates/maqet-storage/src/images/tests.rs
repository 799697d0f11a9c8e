//! Unit tests of the image cache on local files (downloads are tested end to end).

use super::*;

#[test]
fn sources_are_urls_or_paths() {
    assert_eq!(
        ImageSource::parse("HTTPS://h/d/x.qcow2?sig=1").ok(),
        Some(ImageSource::Url("HTTPS://h/d/x.qcow2?sig=1".into()))
    );
    assert_eq!(
        ImageSource::parse("./x.img").ok(),
        Some(ImageSource::Path("./x.img".into()))
    );
    assert!(matches!(
        ImageSource::parse("ftp://h/x.img"),
        Err(ImageError::UnsupportedScheme { .. })
    ));
    let url = ImageSource::Url("https://h/d/debian.qcow2?sig=1#frag".into());
    assert_eq!(url.file_name(), "debian.qcow2");
    assert_eq!(ImageSource::Path("/a/b.img".into()).file_name(), "b.img");
}

#[test]
fn a_local_image_is_cached_once_and_a_wrong_digest_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("base.img");
    std::fs::write(&source, b"image bytes").expect("write");
    let cache = ImageCache::new(dir.path().join("cache"));
    let src = ImageSource::Path(source.clone());
    let wrong = Expected::Sha256("0".repeat(64));
    let err = cache.fetch(&src, &wrong, &mut |_| {}).err();
    assert!(
        matches!(err, Some(ImageError::DigestMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(cache.list().ok(), Some(ImageListing::default()));

    let first = cache
        .fetch(&src, &Expected::Any, &mut |_| {})
        .expect("fetch");
    assert!(first.fetched);
    assert_eq!(
        std::fs::read(&first.path).ok().as_deref(),
        Some(&b"image bytes"[..])
    );
    let again = cache
        .fetch(&src, &Expected::Sha256(first.digest.clone()), &mut |_| {})
        .expect("fetch again");
    assert!(!again.fetched);
    assert_eq!(again.path, first.path);

    let overlay = dir.path().join("hdd.qcow2");
    std::fs::write(&overlay, b"").expect("write");
    cache.record_user(&first.digest, &overlay).expect("record");
    assert!(matches!(
        cache.remove(&first.digest, false),
        Err(ImageError::InUse { .. })
    ));
    assert_eq!(cache.prune().ok(), Some(RemovedImages::default()));
    std::fs::remove_file(&overlay).expect("remove overlay");
    let pruned = cache.prune().expect("prune");
    assert_eq!(pruned.digests, vec![first.digest]);
}
