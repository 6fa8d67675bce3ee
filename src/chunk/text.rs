//! Plain text: paragraphs are separated by blank lines; there are no headings.

use super::{collapse_whitespace, Block, Page};

/// Reads a plain-text page.
pub(super) fn parse(source: &str) -> Page {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in source.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            let p = collapse_whitespace(&current);
            if !p.is_empty() {
                blocks.push(Block::Paragraph(p));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    Page { title: None, blocks }
}
