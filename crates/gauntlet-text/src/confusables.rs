//! Look-alike characters shared by the homoglyph attack (Latin → look-alike)
//! and the normalization defense (look-alike → Latin). A subset of Unicode's
//! confusables.txt covering Cyrillic and Greek letters that render like Latin
//! ones in common fonts.

/// (look-alike, Latin) pairs.
pub const CONFUSABLES: &[(char, char)] = &[
    // Cyrillic lower case
    ('а', 'a'),
    ('е', 'e'),
    ('о', 'o'),
    ('р', 'p'),
    ('с', 'c'),
    ('у', 'y'),
    ('х', 'x'),
    ('і', 'i'),
    ('ј', 'j'),
    ('ѕ', 's'),
    ('ԁ', 'd'),
    ('һ', 'h'),
    ('ӏ', 'l'),
    ('ԛ', 'q'),
    ('ԝ', 'w'),
    ('ɡ', 'g'),
    ('ν', 'v'),
    // Cyrillic upper case
    ('А', 'A'),
    ('В', 'B'),
    ('Е', 'E'),
    ('К', 'K'),
    ('М', 'M'),
    ('Н', 'H'),
    ('О', 'O'),
    ('Р', 'P'),
    ('С', 'C'),
    ('Т', 'T'),
    ('Х', 'X'),
    ('У', 'Y'),
    ('Ѕ', 'S'),
    ('І', 'I'),
    ('Ј', 'J'),
    // Greek
    ('α', 'a'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('ι', 'i'),
    ('κ', 'k'),
    ('τ', 't'),
    ('υ', 'u'),
    ('Α', 'A'),
    ('Β', 'B'),
    ('Ε', 'E'),
    ('Ζ', 'Z'),
    ('Η', 'H'),
    ('Ι', 'I'),
    ('Κ', 'K'),
    ('Μ', 'M'),
    ('Ν', 'N'),
    ('Ο', 'O'),
    ('Ρ', 'P'),
    ('Τ', 'T'),
    ('Υ', 'Y'),
    ('Χ', 'X'),
    // Other Latin look-alikes
    ('ı', 'i'),
    ('ℓ', 'l'),
];

/// Invisible characters that split or pad words without showing.
pub const ZERO_WIDTH: &[char] = &[
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{2060}', '\u{2061}', '\u{2062}',
    '\u{2063}', '\u{2064}', '\u{FEFF}', '\u{00AD}', '\u{034F}', '\u{180E}', '\u{202A}', '\u{202B}',
    '\u{202C}', '\u{202D}', '\u{202E}',
];

/// Latin letter a look-alike stands for, if any.
pub fn to_latin(c: char) -> Option<char> {
    if c.is_ascii() {
        return None; // every look-alike is outside ASCII; most text is inside it
    }
    CONFUSABLES.iter().find(|(k, _)| *k == c).map(|(_, v)| *v)
}

/// Look-alikes of a Latin letter.
pub fn lookalikes(c: char) -> Vec<char> {
    CONFUSABLES
        .iter()
        .filter(|(_, v)| *v == c)
        .map(|(k, _)| *k)
        .collect()
}

/// Whether `c` is an invisible formatting character.
pub fn is_zero_width(c: char) -> bool {
    !c.is_ascii() && ZERO_WIDTH.contains(&c)
}
