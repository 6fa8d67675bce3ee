//! HTML via html5ever (scraper): reads the page's `<main>` (or `<article>`, or `<body>`),
//! drops scripts, styles, navigation, footers, hidden elements and anything marked
//! `data-wasmrag-ignore`, keeps headings with their ids. A page whose `<meta name="robots">`
//! says `noindex` yields nothing, as search engines and Pagefind treat it.

use super::{collapse_whitespace, Block, Page};
use scraper::{ElementRef, Html, Node, Selector};

/// Elements whose content is never page text.
const SKIPPED: &[&str] = &["script", "style", "nav", "footer", "header", "noscript", "template", "svg", "button", "form", "iframe", "select", "head"];
/// Elements that end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "li",
    "dt",
    "dd",
    "tr",
    "blockquote",
    "section",
    "article",
    "main",
    "aside",
    "ul",
    "ol",
    "dl",
    "table",
    "figure",
    "figcaption",
    "details",
    "summary",
    "hr",
    "body",
    "address",
];

/// Reads an HTML page. The tree is walked with an explicit stack, so deeply nested markup cannot
/// overflow the call stack.
pub(super) fn parse(source: &str) -> Page {
    let doc = Html::parse_document(source);
    if is_noindex(&doc) {
        return Page::default();
    }
    let title = first(&doc, "title").map(|t| collapse_whitespace(&t.text().collect::<String>()));
    let root = ["main", "article", "body"].iter().find_map(|s| first(&doc, s)).unwrap_or_else(|| doc.root_element());

    enum Step<'a> {
        Visit(ego_tree::NodeRef<'a, Node>),
        EndBlock { pre: bool },
    }
    let mut blocks = Vec::new();
    let mut buf = String::new();
    let mut pre_depth = 0usize;
    let mut stack: Vec<Step> = root.children().rev().map(Step::Visit).collect();
    while let Some(step) = stack.pop() {
        let node = match step {
            Step::EndBlock { pre } => {
                flush(&mut blocks, &mut buf, pre_depth > 0);
                pre_depth -= usize::from(pre);
                continue;
            }
            Step::Visit(node) => node,
        };
        match node.value() {
            Node::Text(t) => buf.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIPPED.contains(&name) || e.attr("hidden").is_some() || e.attr("aria-hidden") == Some("true") || e.attr("data-wasmrag-ignore").is_some() {
                    continue;
                }
                if let Some(level) = heading_level(name) {
                    flush(&mut blocks, &mut buf, pre_depth > 0);
                    if let Some(el) = ElementRef::wrap(node) {
                        let text = collapse_whitespace(&el.text().collect::<String>());
                        blocks.push(Block::Heading { level, text, id: element_id(el) });
                    }
                    continue;
                }
                if name == "br" {
                    buf.push('\n');
                    continue;
                }
                let pre = name == "pre";
                if pre || BLOCKS.contains(&name) {
                    flush(&mut blocks, &mut buf, pre_depth > 0);
                    pre_depth += usize::from(pre);
                    stack.push(Step::EndBlock { pre });
                }
                stack.extend(node.children().rev().map(Step::Visit));
            }
            _ => {}
        }
    }
    flush(&mut blocks, &mut buf, false);
    Page { title, blocks }
}

fn is_noindex(doc: &Html) -> bool {
    let Ok(selector) = Selector::parse("meta[name=robots]") else { return false };
    doc.select(&selector).filter_map(|m| m.value().attr("content")).any(|c| c.to_ascii_lowercase().contains("noindex"))
}

fn first<'a>(doc: &'a Html, selector: &str) -> Option<ElementRef<'a>> {
    let selector = Selector::parse(selector).ok()?;
    doc.select(&selector).next()
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// The heading's own `id`, or else the first `id` inside it (some generators put it on an `<a>`).
fn element_id(el: ElementRef) -> Option<String> {
    el.value().id().or_else(|| el.descendants().filter_map(ElementRef::wrap).find_map(|d| d.value().id())).map(str::to_string)
}

fn flush(blocks: &mut Vec<Block>, buf: &mut String, pre: bool) {
    let text = if pre { buf.trim_matches(|c| c == '\n' || c == '\r').trim_end().to_string() } else { collapse_whitespace(buf) };
    if !text.trim().is_empty() {
        blocks.push(Block::Paragraph(text));
    }
    buf.clear();
}
