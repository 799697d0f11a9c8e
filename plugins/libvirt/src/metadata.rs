//! maqet's `<metadata>` in a deployed domain: the volumes it uploaded.

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;

/// The `(pool, volume)` pairs recorded in `domain_xml`'s `<maqet:deploy>` element.
pub fn deployed_volumes(domain_xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(domain_xml);
    let mut inside = false;
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == "deploy" => inside = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == "deploy" => inside = false,
            Ok(Event::Empty(e) | Event::Start(e))
                if inside && e.local_name().as_ref() == "volume" =>
            {
                let attribute = |key: &str| {
                    e.try_get_attribute(key).ok().flatten().and_then(|a| {
                        a.normalized_value(XmlVersion::Implicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    })
                };
                if let (Some(pool), Some(name)) = (attribute("pool"), attribute("name")) {
                    out.push((pool, name));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_read_from_the_deploy_element_only() {
        let xml = r#"<domain><metadata><maqet:deploy xmlns:maqet="urn:maqet:libvirt:1" vm="w">
            <maqet:volume pool="default" name="w-root-1.qcow2"/>
            <maqet:volume pool="p2" name="w-kernel-1"/></maqet:deploy>
            <other:volume xmlns:other="urn:x" pool="no" name="no"/></metadata></domain>"#;
        assert_eq!(
            deployed_volumes(xml),
            [
                ("default".to_owned(), "w-root-1.qcow2".to_owned()),
                ("p2".to_owned(), "w-kernel-1".to_owned())
            ]
        );
    }
}
