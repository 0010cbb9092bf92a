//! MIME-aware text extraction from a raw message body: multipart bodies are
//! split into parts, quoted-printable and base64 parts are decoded, HTML tags
//! are stripped and entities decoded. Only the body is available (headers are
//! not used: they can leak the label), so single-part encodings are detected
//! from the body itself.

/// Extract readable text from a raw body. Idempotent enough on plain text that
/// it can be applied to text that was already extracted.
pub fn extract_text(raw: &str) -> String {
    let mut out = String::new();
    extract_into(raw, 0, &mut out);
    tidy_whitespace(&out)
}

fn extract_into(raw: &str, depth: usize, out: &mut String) {
    if depth < 4 {
        if let Some(boundary) = find_boundary(raw) {
            let parts = split_parts(raw, &boundary);
            if !parts.is_empty() {
                for part in parts {
                    extract_part(part, depth, out);
                }
                return;
            }
        }
    }
    out.push_str(&decode_single(raw, None, None));
    out.push('\n');
}

/// A multipart boundary: a line `--TOKEN` followed (possibly after blank lines)
/// by a `Content-...:` part header.
fn find_boundary(raw: &str) -> Option<String> {
    if !raw.starts_with("--") && !raw.contains("\n--") {
        return None;
    }
    let lines: Vec<&str> = raw.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end();
        if let Some(tok) = t.strip_prefix("--") {
            if tok.is_empty() || tok.contains(char::is_whitespace) || tok.ends_with("--") {
                continue;
            }
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
            if next.is_some_and(|l| l.to_ascii_lowercase().starts_with("content-")) {
                return Some(tok.to_string());
            }
        }
    }
    None
}

fn split_parts<'a>(raw: &'a str, boundary: &str) -> Vec<&'a str> {
    let open = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    for line in raw.split_inclusive('\n') {
        let t = line.trim_end();
        if t == open || t == format!("{open}--") {
            if let Some(s) = start {
                parts.push(&raw[s..pos]);
            }
            start = if t == open {
                Some(pos + line.len())
            } else {
                None
            };
        }
        pos += line.len();
    }
    if let Some(s) = start {
        parts.push(&raw[s..]);
    }
    parts
}

fn extract_part(part: &str, depth: usize, out: &mut String) {
    // Part headers end at the first blank line.
    let (head, body) = match part.find("\n\n").or_else(|| part.find("\r\n\r\n")) {
        Some(i) => (&part[..i], part[i..].trim_start_matches(['\r', '\n'])),
        None => ("", part),
    };
    let head_l = unfold(head).to_ascii_lowercase();
    let header = |name: &str| -> Option<String> {
        head_l
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let ctype = header("content-type:").unwrap_or_else(|| "text/plain".into());
    let cte = header("content-transfer-encoding:");
    if ctype.starts_with("multipart/") {
        extract_into(body, depth + 1, out);
    } else if ctype.starts_with("text/") || ctype.starts_with("message/") {
        out.push_str(&decode_single(body, cte.as_deref(), Some(&ctype)));
        out.push('\n');
    }
    // Images, attachments and other binary parts carry no words.
}

fn unfold(head: &str) -> String {
    head.replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ")
}

fn decode_single(body: &str, cte: Option<&str>, ctype: Option<&str>) -> String {
    let text = match cte {
        Some(c) if c.contains("base64") => {
            decode_base64_text(body).unwrap_or_else(|| body.to_string())
        }
        Some(c) if c.contains("quoted-printable") => decode_qp(body),
        Some(_) => body.to_string(),
        None if looks_base64(body) => decode_base64_text(body).unwrap_or_else(|| body.to_string()),
        None if looks_qp(body) => decode_qp(body),
        None => body.to_string(),
    };
    if ctype.is_some_and(|c| c.contains("html")) || looks_html(&text) {
        strip_html(&text)
    } else {
        text
    }
}

fn is_b64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='
}

fn looks_base64(body: &str) -> bool {
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() < 2 {
        return false;
    }
    let b64 = lines
        .iter()
        .filter(|l| l.len() >= 40 && l.chars().all(is_b64_char))
        .count();
    b64 * 10 >= lines.len() * 9
}

fn looks_qp(body: &str) -> bool {
    if !body.contains('=') {
        return false;
    }
    let soft = body.matches("=\n").count() + body.matches("=\r\n").count();
    let b = body.as_bytes();
    let hex = (0..b.len().saturating_sub(2))
        .filter(|&i| b[i] == b'=' && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
        .filter(|&i| b[i + 1].is_ascii_uppercase() || b[i + 1].is_ascii_digit())
        .count();
    soft >= 2 || hex >= 3
}

fn looks_html(text: &str) -> bool {
    if !text.contains('<') {
        return false; // the common case after extraction, found with one memchr
    }
    let l = text.to_ascii_lowercase();
    if l.contains("<html") || l.contains("<body") || l.contains("<!doctype html") {
        return true;
    }
    [
        "<p>", "<br", "<font", "<a href", "<table", "<td", "<div", "<b>",
    ]
    .iter()
    .map(|t| l.matches(t).count())
    .sum::<usize>()
        >= 3
}

/// Bytes to text: UTF-8 when valid, otherwise Latin-1 (the corpus' other encoding).
fn bytes_to_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Decode base64 (ignoring whitespace and stopping at the first invalid char).
pub fn decode_base64(input: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in input.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => break,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn decode_base64_text(body: &str) -> Option<String> {
    let bytes = decode_base64(body);
    if bytes.is_empty() {
        return None;
    }
    // Binary payloads mislabelled as text: refuse rather than emit noise.
    let ctrl = bytes
        .iter()
        .filter(|&&b| b < 9 || (b > 13 && b < 32))
        .count();
    (ctrl * 20 <= bytes.len()).then(|| bytes_to_text(&bytes))
}

/// Decode quoted-printable: `=XX` escapes and `=` soft line breaks.
pub fn decode_qp(body: &str) -> String {
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if let (Some(h), Some(l)) = (b.get(i + 1), b.get(i + 2)) {
                if let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16)) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    bytes_to_text(&out)
}

/// Remove tags, comments, scripts and styles; decode common entities.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            i += lower[i..].find("-->").map_or(rest.len(), |j| j + 3);
            continue;
        }
        if rest.starts_with('<') {
            let lrest = &lower[i..];
            for block in ["<script", "<style"] {
                if lrest.starts_with(block) {
                    let close = format!("</{}", &block[1..]);
                    if let Some(j) = lrest.find(&close) {
                        i += j;
                    }
                }
            }
            let rest = &html[i..];
            let is_tag =
                rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
            if is_tag {
                let end = rest.find('>').map_or(rest.len(), |j| j + 1);
                let tag = &lower[i..i + end];
                let block = [
                    "<br", "<p", "</p", "<div", "</div", "<tr", "</tr", "<li", "<h", "</h",
                    "<table",
                ]
                .iter()
                .any(|b| tag.starts_with(b));
                out.push(if block { '\n' } else { ' ' });
                i += end;
                continue;
            }
        }
        let ch = rest.chars().next().unwrap_or(' ');
        if ch == '&' {
            if let Some((decoded, used)) = decode_entity(rest) {
                out.push(decoded);
                i += used;
                continue;
            }
        }
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn decode_entity(s: &str) -> Option<(char, usize)> {
    let end = s.bytes().take(12).position(|b| b == b';')?;
    let name = &s[1..end];
    let c = match name {
        "nbsp" => ' ',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "copy" => '©',
        "reg" => '®',
        _ => {
            let num = name.strip_prefix('#')?;
            let v = match num.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(v)?
        }
    };
    Some((c, end + 1))
}

fn tidy_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_quoted_printable() {
        assert_eq!(decode_qp("caf=C3=A9 =3D ok=\nay"), "café = okay");
    }

    #[test]
    fn decodes_base64_part_and_strips_html() {
        let body = "--XYZ\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\nPGI+RnJlZTwvYj4gJmFtcDsgbW9uZXk=\n--XYZ\nContent-Type: image/gif\n\nR0lGODlh\n--XYZ--\n";
        let t = extract_text(body);
        assert!(t.contains("Free") && t.contains("& money"), "{t}");
        assert!(!t.contains('<') && !t.contains("R0lG"), "{t}");
    }

    #[test]
    fn plain_text_is_unchanged_modulo_whitespace() {
        let t = "Hello there,\nsee you at 5pm. a<b is fine.";
        assert_eq!(extract_text(t), t);
        assert_eq!(extract_text(&extract_text(t)), t);
    }
}
