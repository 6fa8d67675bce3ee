//! Chunking: turns a Markdown, HTML or plain-text page into passages that follow its headings and
//! paragraphs, each small enough for the embedder and carrying a link back to its place.

mod html;
mod markdown;
mod split;
mod text;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a document could not be chunked; the document is skipped and nothing else is affected.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// The document is larger than [`ChunkOptions::max_document_bytes`].
    #[error("document {url} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Where the document came from.
        url: String,
        /// Its size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The bytes contain NUL characters, so they are not a text document.
    #[error("document {url} looks binary (it contains NUL bytes)")]
    Binary {
        /// Where the document came from.
        url: String,
    },
    /// The bytes are not valid UTF-8.
    #[error("document {url} is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 {
        /// Where the document came from.
        url: String,
        /// Offset of the first invalid byte.
        offset: usize,
    },
}

impl ChunkError {
    /// A stable, machine-readable name for this error, the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        match self {
            ChunkError::TooLarge { .. } => "document_too_large",
            ChunkError::Binary { .. } | ChunkError::NotUtf8 { .. } => "document_invalid",
        }
    }
}

/// The markup a document is written in, which decides how headings and paragraphs are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// CommonMark with tables and `{#id}` heading attributes.
    Markdown,
    /// An HTML page; scripts, styles, navigation and footers are dropped.
    Html,
    /// Plain text; blank lines separate paragraphs.
    Text,
}

impl Format {
    /// Guesses the format from a file name's extension (`.md`, `.markdown`, `.html`, `.htm`,
    /// `.txt`); `None` for anything else, which callers skip.
    pub fn from_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            "txt" | "text" => Some(Format::Text),
            _ => None,
        }
    }
}

/// One page to index: where it lives (used for links), its markup and its raw bytes.
#[derive(Debug, Clone)]
pub struct Document {
    /// The path or URL that search results link to.
    pub url: String,
    /// How to read [`Document::bytes`].
    pub format: Format,
    /// The raw file contents; must be UTF-8 text.
    pub bytes: Vec<u8>,
}

/// A passage of a page: the unit that is embedded, indexed, retrieved and cited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// The page's path or URL.
    pub url: String,
    /// The page's title.
    pub title: String,
    /// Headings from the top of the page down to this passage.
    pub headings: Vec<String>,
    /// The `id` of the nearest heading above the passage, for `url#anchor` links.
    pub anchor: Option<String>,
    /// The passage text, paragraphs separated by blank lines.
    pub text: String,
}

impl Chunk {
    /// The link to this passage: `url#anchor`, or the page URL when there is no anchor.
    pub fn link(&self) -> String {
        match &self.anchor {
            Some(a) => format!("{}#{}", self.url, a),
            None => self.url.clone(),
        }
    }

    /// The heading path joined for display, e.g. `Ownership > The Stack and the Heap`.
    pub fn heading_path(&self) -> String {
        self.headings.join(" > ")
    }

    /// The text given to the embedder: title and heading path first, so that a passage is
    /// found by what its section is about even when its own words do not say it.
    pub fn embedding_text(&self) -> String {
        let context = context_line(&self.title, &self.headings);
        if context.is_empty() {
            self.text.clone()
        } else {
            format!("{context}\n{}", self.text)
        }
    }
}

/// The "title: heading > heading" line that prefixes a passage for embedding.
pub(crate) fn context_line(title: &str, headings: &[String]) -> String {
    let path: Vec<&str> = headings.iter().map(String::as_str).filter(|h| *h != title).collect();
    match (title.is_empty(), path.is_empty()) {
        (true, true) => String::new(),
        (false, true) => title.to_string(),
        (true, false) => path.join(" > "),
        (false, false) => format!("{title}: {}", path.join(" > ")),
    }
}

/// Limits that decide passage size and which documents are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChunkOptions {
    /// Most tokens in a passage, title and headings included (the embedder reads 256).
    pub max_tokens: usize,
    /// Tokens repeated from the end of one passage at the start of the next when a section
    /// is split, so a sentence cut at the boundary is still found whole.
    pub overlap_tokens: usize,
    /// Documents larger than this are refused with [`ChunkError::TooLarge`].
    pub max_document_bytes: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions { max_tokens: 256, overlap_tokens: 32, max_document_bytes: 16 * 1024 * 1024 }
    }
}

/// A piece of page structure found by a format's parser, before splitting into passages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    /// A heading with its level (1–6), text and `id` if the page gives one.
    Heading { level: u8, text: String, id: Option<String> },
    /// A paragraph, list item, code block or table row as text.
    Paragraph(String),
}

/// A parsed page: its title (if the markup names one) and its blocks in order.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub title: Option<String>,
    pub blocks: Vec<Block>,
}

/// Splits a document into passages of at most `options.max_tokens` tokens as counted by
/// `count_tokens` (the embedder's tokenizer in the pipeline).
pub fn chunk_document(doc: &Document, options: &ChunkOptions, count_tokens: &dyn Fn(&str) -> usize) -> Result<Vec<Chunk>, ChunkError> {
    let source = decode_text(doc, options)?;
    let page = match doc.format {
        Format::Markdown => markdown::parse(source),
        Format::Html => html::parse(source),
        Format::Text => text::parse(source),
    };
    let title = page.title.clone().filter(|t| !t.is_empty()).or_else(|| first_heading(&page.blocks)).unwrap_or_else(|| file_stem(&doc.url));
    Ok(split::split_page(&doc.url, &title, page.blocks, options, count_tokens))
}

/// Checks size, binary content and UTF-8 before any parsing.
fn decode_text<'a>(doc: &'a Document, options: &ChunkOptions) -> Result<&'a str, ChunkError> {
    if doc.bytes.len() > options.max_document_bytes {
        return Err(ChunkError::TooLarge { url: doc.url.clone(), size: doc.bytes.len(), limit: options.max_document_bytes });
    }
    if doc.bytes.contains(&0) {
        return Err(ChunkError::Binary { url: doc.url.clone() });
    }
    std::str::from_utf8(&doc.bytes).map_err(|e| ChunkError::NotUtf8 { url: doc.url.clone(), offset: e.valid_up_to() })
}

fn first_heading(blocks: &[Block]) -> Option<String> {
    blocks.iter().find_map(|b| match b {
        Block::Heading { text, .. } if !text.is_empty() => Some(text.clone()),
        _ => None,
    })
}

fn file_stem(url: &str) -> String {
    let name = url.rsplit(['/', '\\']).next().unwrap_or(url);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem).to_string()
}

/// A GitHub-style anchor slug: lower case, punctuation dropped, spaces to hyphens.
pub(crate) fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            slug.extend(c.to_lowercase());
        } else if c.is_whitespace() {
            slug.push('-');
        }
    }
    slug
}

/// Collapses runs of whitespace to single spaces and trims the ends.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    fn doc(url: &str, format: Format, text: &str) -> Document {
        Document { url: url.into(), format, bytes: text.as_bytes().to_vec() }
    }

    #[test]
    fn format_from_path() {
        assert_eq!(Format::from_path("a/b.MD"), Some(Format::Markdown));
        assert_eq!(Format::from_path("x.htm"), Some(Format::Html));
        assert_eq!(Format::from_path("x.txt"), Some(Format::Text));
        assert_eq!(Format::from_path("x.png"), None);
        assert_eq!(Format::from_path("Makefile"), None);
    }

    #[test]
    fn refuses_binary_non_utf8_and_huge() {
        let opts = ChunkOptions { max_document_bytes: 100, ..Default::default() };
        let bin = Document { url: "b.txt".into(), format: Format::Text, bytes: vec![1, 0, 2] };
        assert_eq!(chunk_document(&bin, &opts, &words), Err(ChunkError::Binary { url: "b.txt".into() }));
        let latin1 = Document { url: "l.txt".into(), format: Format::Text, bytes: b"caf\xe9".to_vec() };
        assert_eq!(chunk_document(&latin1, &opts, &words), Err(ChunkError::NotUtf8 { url: "l.txt".into(), offset: 3 }));
        let huge = doc("h.txt", Format::Text, &"word ".repeat(30));
        assert!(matches!(chunk_document(&huge, &opts, &words), Err(ChunkError::TooLarge { size: 150, limit: 100, .. })));
    }

    #[test]
    fn empty_document_gives_no_chunks() {
        let c = chunk_document(&doc("e.md", Format::Markdown, "  \n\n"), &ChunkOptions::default(), &words);
        assert_eq!(c, Ok(vec![]));
    }

    #[test]
    fn markdown_follows_headings_with_anchors() {
        let md = "# Guide\n\nIntro text.\n\n## Install it {#setup}\n\nRun the installer.\n\n### On Linux\n\nUse apt.\n";
        let chunks = chunk_document(&doc("docs/guide.md", Format::Markdown, md), &ChunkOptions::default(), &words).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].title, "Guide");
        assert_eq!(chunks[0].text, "Intro text.");
        assert_eq!(chunks[0].link(), "docs/guide.md#guide");
        assert_eq!(chunks[1].headings, vec!["Guide", "Install it"]);
        assert_eq!(chunks[1].link(), "docs/guide.md#setup");
        assert_eq!(chunks[2].heading_path(), "Guide > Install it > On Linux");
        assert_eq!(chunks[2].anchor.as_deref(), Some("on-linux"));
        assert_eq!(chunks[2].embedding_text(), "Guide: Install it > On Linux\nUse apt.");
    }

    #[test]
    fn html_drops_chrome_and_keeps_heading_ids() {
        let html = r##"<html><head><title>Ownership</title><style>p{}</style></head><body>
            <nav>Chapter list</nav>
            <main><h1 id="what-is-ownership">What Is Ownership?</h1>
            <p>Ownership is a set of <em>rules</em>.</p><script>alert(1)</script>
            <h2 id="the-stack"><a href="#the-stack">The Stack</a></h2>
            <ul><li>first item</li><li>second item</li></ul>
            <pre><code>let s = String::from("hi");
drop(s);</code></pre>
            <footer>Copyright</footer></main></body></html>"##;
        let chunks = chunk_document(&doc("ch04.html", Format::Html, html), &ChunkOptions::default(), &words).unwrap();
        let all: String = chunks.iter().map(|c| c.text.clone()).collect::<Vec<_>>().join("|");
        assert!(!all.contains("Chapter list") && !all.contains("alert") && !all.contains("Copyright"), "{all}");
        assert_eq!(chunks[0].title, "Ownership");
        assert_eq!(chunks[0].text, "Ownership is a set of rules.");
        assert_eq!(chunks[0].link(), "ch04.html#what-is-ownership");
        assert_eq!(chunks[1].link(), "ch04.html#the-stack");
        assert_eq!(chunks[1].headings, vec!["What Is Ownership?", "The Stack"]);
        assert!(chunks[1].text.contains("first item\n\nsecond item"), "{}", chunks[1].text);
        assert!(chunks[1].text.contains("let s = String::from(\"hi\");\ndrop(s);"), "{}", chunks[1].text);
    }

    #[test]
    fn html_honours_noindex_and_ignore_markers() {
        let noindex = r#"<html><head><meta name="robots" content="noindex,follow"></head><body><p>old page</p></body></html>"#;
        assert_eq!(chunk_document(&doc("old.html", Format::Html, noindex), &ChunkOptions::default(), &words), Ok(vec![]));
        let ignored = r#"<body><p>keep me</p><div data-wasmrag-ignore><p>drop me</p></div></body>"#;
        let chunks = chunk_document(&doc("p.html", Format::Html, ignored), &ChunkOptions::default(), &words).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "keep me");
    }

    #[test]
    fn deeply_nested_html_does_not_overflow() {
        let html = format!("<body>{}deep text{}</body>", "<div>".repeat(20_000), "</div>".repeat(20_000));
        let chunks = chunk_document(&doc("deep.html", Format::Html, &html), &ChunkOptions::default(), &words).unwrap();
        assert_eq!(chunks[0].text, "deep text");
    }

    #[test]
    fn plain_text_splits_on_blank_lines() {
        let chunks = chunk_document(&doc("notes/todo.txt", Format::Text, "one two\nthree\n\nfour"), &ChunkOptions::default(), &words).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].title, "todo");
        assert_eq!(chunks[0].text, "one two three\n\nfour");
        assert_eq!(chunks[0].anchor, None);
    }

    #[test]
    fn long_sections_split_within_budget_with_overlap() {
        let para = |i: usize| format!("p{i} {}", "w ".repeat(19).trim_end());
        let md = format!("# T\n\n{}", (0..10).map(para).collect::<Vec<_>>().join("\n\n"));
        let opts = ChunkOptions { max_tokens: 64, overlap_tokens: 20, ..Default::default() };
        let chunks = chunk_document(&doc("t.md", Format::Markdown, &md), &opts, &words).unwrap();
        assert!(chunks.len() > 3);
        for c in &chunks {
            assert!(words(&c.embedding_text()) <= 64, "{}", c.text);
        }
        // Each split repeats the previous passage's last paragraph.
        let last_of_first = chunks[0].text.rsplit("\n\n").next().unwrap();
        assert!(chunks[1].text.starts_with(last_of_first));
        // Nothing is lost.
        for i in 0..10 {
            assert!(chunks.iter().any(|c| c.text.contains(&format!("p{i} "))));
        }
    }

    #[test]
    fn oversized_paragraph_is_windowed() {
        let text: Vec<String> = (0..500).map(|i| format!("t{i}")).collect();
        let opts = ChunkOptions { max_tokens: 100, overlap_tokens: 10, ..Default::default() };
        let chunks = chunk_document(&doc("big.txt", Format::Text, &text.join(" ")), &opts, &words).unwrap();
        assert!(chunks.len() >= 5);
        for c in &chunks {
            assert!(words(&c.embedding_text()) <= 100);
        }
        assert!(chunks.iter().any(|c| c.text.split(' ').any(|w| w == "t499")));
        assert!(chunks[0].text.split(' ').next() == Some("t0"));
    }

    #[test]
    fn slugs_match_github_style() {
        assert_eq!(slugify("What Is Ownership?"), "what-is-ownership");
        assert_eq!(slugify("The `Drop` trait"), "the-drop-trait");
    }
}
