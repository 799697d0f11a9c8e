//! Small helpers over quick-xml's writer.

use quick_xml::Writer;
use quick_xml::events::BytesText;

/// The writer every renderer uses.
pub type XmlWriter = Writer<Vec<u8>>;
/// What writing an element returns.
pub type XmlResult = std::io::Result<()>;

/// `<name>text</name>`.
pub fn text_element(w: &mut XmlWriter, name: &str, text: &str) -> XmlResult {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

/// `<name attribute="value"/>`.
pub fn empty_with(w: &mut XmlWriter, name: &str, attribute: &str, value: &str) -> XmlResult {
    w.create_element(name)
        .with_attribute((attribute, value))
        .write_empty()?;
    Ok(())
}

/// `<name/>`.
pub fn empty(w: &mut XmlWriter, name: &str) -> XmlResult {
    w.create_element(name).write_empty()?;
    Ok(())
}
