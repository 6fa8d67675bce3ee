//! GPT-2's byte-level pre-tokenizer, without a regex engine: the split that the pattern
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` makes
//! (alternatives tried in order at each position, as a backtracking engine does), and the
//! byte alphabet that shows every byte as a printable character in the vocabulary.
//!
//! Letters and numbers are the general categories L and N of Unicode 16, the tables of the
//! regex engine `tokenizers` runs this pattern on; whitespace is the White_Space property.

use unicode_general_category::{get_general_category, GeneralCategory as G};

/// What the pattern sees in a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `\s`: White_Space.
    Space,
    /// `\p{L}`.
    Letter,
    /// `\p{N}`.
    Number,
    /// Anything else: punctuation, symbols, marks, controls, unassigned.
    Other,
}

/// The classes of the ASCII characters, computed once at compile time.
const ASCII: [Class; 128] = {
    let mut table = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() {
            Class::Letter
        } else if c.is_ascii_digit() {
            Class::Number
        } else if matches!(c, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ') {
            Class::Space
        } else {
            Class::Other
        };
        b += 1;
    }
    table
};

/// The class of `c`.
#[inline]
pub(crate) fn class(c: char) -> Class {
    if c.is_ascii() {
        return ASCII[c as usize];
    }
    if c.is_whitespace() {
        return Class::Space;
    }
    match get_general_category(c) {
        G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter => Class::Letter,
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => Class::Number,
        _ => Class::Other,
    }
}

/// The character that starts at byte `i` of `text` (a character boundary before its end).
#[inline]
fn char_at(text: &str, i: usize) -> char {
    text[i..].chars().next().unwrap_or('\0')
}

/// Where the run of characters of class `kind` that starts at byte `from` ends.
#[inline]
fn run_end(text: &str, from: usize, kind: Class) -> usize {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if ASCII[usize::from(b)] != kind {
                break;
            }
            i += 1;
        } else {
            let c = char_at(text, i);
            if class(c) != kind {
                break;
            }
            i += c.len_utf8();
        }
    }
    i
}

/// Length of the contraction after an apostrophe (`s`, `t`, `re`, `ve`, `m`, `ll`, `d`).
#[inline]
fn contraction(rest: &[u8]) -> Option<usize> {
    match rest {
        [b's' | b't' | b'm' | b'd', ..] => Some(1),
        [b'r' | b'v', b'e', ..] | [b'l', b'l', ..] => Some(2),
        _ => None,
    }
}

/// Calls `each` with the pieces of `text` in order, as the GPT-2 pattern splits it: a
/// contraction; a run of letters, of numbers or of other symbols, each with one leading
/// space if there is one; whitespace, less its last character when a non-space follows (that
/// space leads the next word).
pub(crate) fn split<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    let n = text.len();
    let mut i = 0;
    while i < n {
        let c = char_at(text, i);
        if c == '\'' {
            if let Some(k) = contraction(&text.as_bytes()[i + 1..]) {
                each(&text[i..i + 1 + k]);
                i += 1 + k;
                continue;
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a space leads the run that follows it.
        let (body, kind) = match c {
            ' ' => match text[i + 1..].chars().next().map(class) {
                Some(k) if k != Class::Space => (i + 1, k),
                _ => (i, Class::Space),
            },
            _ => (i, class(c)),
        };
        let end = run_end(text, body, kind);
        if kind != Class::Space || end == n {
            each(&text[i..end]);
            i = end;
            continue;
        }
        // `\s+(?!\S)`: whitespace followed by a non-space leaves its last character to the
        // next piece; `\s+` when that character is the only one.
        let last = end - text[..end].chars().next_back().map_or(1, char::len_utf8);
        let stop = if last > i { last } else { end };
        each(&text[i..stop]);
        i = stop;
    }
}

/// Whether GPT-2's byte alphabet shows byte `b` as itself (printable Latin-1).
const fn printable(b: u8) -> bool {
    matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The character byte `b` is written as in a byte-level vocabulary: itself if printable,
/// else U+0100 onwards, in byte order.
pub(crate) const fn byte_char(b: u8) -> char {
    let code = if printable(b) {
        b as u32
    } else if b <= 0x20 {
        0x100 + b as u32
    } else if b <= 0xA0 {
        0x100 + 0x21 + (b - 0x7F) as u32
    } else {
        // 0xAD, the last one.
        0x100 + 0x21 + 0x22
    };
    match char::from_u32(code) {
        Some(c) => c,
        None => '\0',
    }
}

/// The byte a character of the byte-level alphabet stands for, or `None` for a character
/// outside it.
pub(crate) fn char_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    match code {
        0..=0xFF if printable(code as u8) => Some(code as u8),
        0x100..=0x120 => Some((code - 0x100) as u8),
        0x121..=0x142 => Some((code - 0x121 + 0x7F) as u8),
        0x143 => Some(0xAD),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{byte_char, char_byte, class, split, Class};

    fn pieces(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split(text, |p| out.push(p));
        out
    }

    #[test]
    fn splits_like_the_gpt2_pattern() {
        assert_eq!(pieces("Hello world's 42nd  time!!  \n\tok "), ["Hello", " world", "'s", " 42", "nd", " ", " time", "!!", "  \n", "\t", "ok", " "]);
        assert_eq!(pieces("don't 'Sup ''s x'll"), ["don", "'t", " '", "Sup", " ''", "s", " x", "'ll"]);
        assert_eq!(pieces("日本語 テスト café\u{301} ½ x"), ["日本語", " テスト", " café", "\u{301}", " ½", " x"]);
        // Only U+0020 leads a word; other whitespace stands alone.
        assert_eq!(pieces("a\u{3000}\u{3000}b"), ["a", "\u{3000}", "\u{3000}", "b"]);
        assert_eq!(pieces(""), Vec::<&str>::new());
        assert_eq!(pieces(" "), [" "]);
    }

    #[test]
    fn classes_and_byte_alphabet() {
        assert_eq!([class('é'), class('٣'), class('\u{85}'), class('😀')], [Class::Letter, Class::Number, Class::Space, Class::Other]);
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        for b in 0..=255u8 {
            assert_eq!(char_byte(byte_char(b)), Some(b));
        }
        assert_eq!(char_byte('é'), Some(0xE9));
        assert_eq!(char_byte('\u{144}'), None);
    }

    /// Every character's class is the one the regex engine gives `\s`, `\p{L}` and `\p{N}`.
    #[cfg(feature = "oracle")]
    #[test]
    fn classes_match_the_regex_engine() {
        let re = |p: &str| regex::Regex::new(p).unwrap();
        let (space, letter, number) = (re(r"^\s$"), re(r"^\p{L}$"), re(r"^\p{N}$"));
        let mut buf = [0u8; 4];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = c.encode_utf8(&mut buf);
            let want = match (space.is_match(s), letter.is_match(s), number.is_match(s)) {
                (true, _, _) => Class::Space,
                (_, true, _) => Class::Letter,
                (_, _, true) => Class::Number,
                _ => Class::Other,
            };
            assert_eq!(class(c), want, "U+{:04X}", u32::from(c));
        }
    }

    /// The split is the one `tokenizers`' byte-level pre-tokenizer makes with its regex.
    #[cfg(feature = "oracle")]
    #[test]
    fn splits_like_tokenizers() {
        use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
        let pre = tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, true);
        let alphabet: Vec<char> =
            " \t\n\r\u{b}\u{c}\u{85}\u{a0}\u{3000}\u{2028}'sStTrvelmd0159aZé\u{301}日😀\u{200d}.,!-_\u{0}\u{ad}\u{fffd}١½".chars().collect();
        let mut state = 7u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| match next() % 8 {
                    0 => char::from_u32((next() % 0x11_0000) as u32).unwrap_or('x'),
                    _ => alphabet[(next() % alphabet.len() as u64) as usize],
                })
                .collect();
            let mut pretokenized = PreTokenizedString::from(text.as_str());
            pre.pre_tokenize(&mut pretokenized).unwrap();
            let theirs: Vec<(usize, usize)> = pretokenized.get_splits(OffsetReferential::Original, OffsetType::Byte).into_iter().map(|(_, o, _)| o).collect();
            let mut ours = Vec::new();
            split(&text, |piece| {
                let start = piece.as_ptr() as usize - text.as_ptr() as usize;
                ours.push((start, start + piece.len()));
            });
            assert_eq!(ours, theirs, "{text:?}");
        }
    }
}
