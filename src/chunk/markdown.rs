//! Markdown via pulldown-cmark: headings (with `{#id}` attributes), paragraphs, list items,
//! code blocks and table rows; a YAML front-matter `title:` names the page.

use super::{collapse_whitespace, Block, Page};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Reads a Markdown page.
pub(super) fn parse(source: &str) -> Page {
    let options = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut page = Page::default();
    let mut buf = String::new();
    let mut heading: Option<(u8, Option<String>)> = None;
    let mut in_metadata = false;
    let mut in_code = false;
    for event in Parser::new_ext(source, options) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                flush(&mut page.blocks, &mut buf);
                heading = Some((level as u8, id.map(|i| i.to_string())));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, id)) = heading.take() {
                    let text = collapse_whitespace(&buf);
                    page.blocks.push(Block::Heading { level, text, id });
                }
                buf.clear();
            }
            Event::Start(Tag::MetadataBlock(_)) => in_metadata = true,
            Event::End(TagEnd::MetadataBlock(_)) => in_metadata = false,
            Event::Text(t) if in_metadata => page.title = front_matter_title(&t).or(page.title),
            Event::Start(Tag::CodeBlock(_)) => {
                flush(&mut page.blocks, &mut buf);
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                let code = buf.trim_matches('\n').to_string();
                if !code.trim().is_empty() {
                    page.blocks.push(Block::Paragraph(code));
                }
                buf.clear();
                in_code = false;
            }
            Event::Start(Tag::Item) => flush(&mut page.blocks, &mut buf),
            Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::TableHead | TagEnd::TableRow | TagEnd::BlockQuote(_)) => flush(&mut page.blocks, &mut buf),
            Event::End(TagEnd::TableCell) => buf.push(' '),
            Event::Text(t) | Event::Code(t) => buf.push_str(&t),
            Event::SoftBreak | Event::HardBreak => buf.push(if in_code { '\n' } else { ' ' }),
            _ => {}
        }
    }
    flush(&mut page.blocks, &mut buf);
    page
}

fn flush(blocks: &mut Vec<Block>, buf: &mut String) {
    let text = collapse_whitespace(buf);
    if !text.is_empty() {
        blocks.push(Block::Paragraph(text));
    }
    buf.clear();
}

fn front_matter_title(yaml: &str) -> Option<String> {
    yaml.lines().find_map(|line| {
        let value = line.strip_prefix("title:")?.trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_string())
    })
}
