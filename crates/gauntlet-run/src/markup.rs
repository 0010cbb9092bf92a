//! Escaping text for the markup every report writes: HTML pages and JUnit XML.

/// Escapes text for element content and quoted attribute values, in HTML and in XML alike
/// (`&#39;` rather than `&apos;`, which HTML 4 lacks).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped_and_nothing_else() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\" é"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; é"
        );
    }
}
