//! Turns a page's blocks into passages: a new passage at every heading, paragraphs packed up to
//! the token budget, and oversized paragraphs cut into overlapping windows.

use super::{context_line, slugify, Block, Chunk, ChunkOptions};

/// Tokens kept free for the embedder's `[CLS]` and `[SEP]`.
const SPECIAL_TOKENS: usize = 2;
/// A passage always has room for at least this many tokens of text, however long its headings.
const MIN_BUDGET: usize = 16;

/// Splits `blocks` of the page at `url` into passages; see [`super::chunk_document`].
pub(super) fn split_page(url: &str, title: &str, blocks: Vec<Block>, options: &ChunkOptions, count_tokens: &dyn Fn(&str) -> usize) -> Vec<Chunk> {
    let mut s =
        Splitter { url, title, options, count_tokens, headings: Vec::new(), anchor: None, paragraphs: Vec::new(), tokens: 0, budget: 0, out: Vec::new() };
    s.budget = s.text_budget();
    for block in blocks {
        match block {
            Block::Heading { level, text, id } => s.heading(level, text, id),
            Block::Paragraph(p) => s.paragraph(p),
        }
    }
    s.emit();
    s.out
}

struct Splitter<'a> {
    url: &'a str,
    title: &'a str,
    options: &'a ChunkOptions,
    count_tokens: &'a dyn Fn(&str) -> usize,
    headings: Vec<(u8, String)>,
    anchor: Option<String>,
    /// Paragraphs of the passage being built, with their token counts.
    paragraphs: Vec<(String, usize)>,
    tokens: usize,
    /// Tokens of text a passage under the current headings may hold.
    budget: usize,
    out: Vec<Chunk>,
}

impl Splitter<'_> {
    fn heading(&mut self, level: u8, text: String, id: Option<String>) {
        self.emit();
        while self.headings.last().is_some_and(|(l, _)| *l >= level) {
            self.headings.pop();
        }
        let slug = slugify(&text);
        self.anchor = id.filter(|i| !i.is_empty()).or((!slug.is_empty()).then_some(slug));
        self.headings.push((level, text));
        self.budget = self.text_budget();
    }

    fn paragraph(&mut self, text: String) {
        let tokens = (self.count_tokens)(&text);
        if tokens > self.budget {
            self.emit();
            self.windows(&text, tokens);
            return;
        }
        if self.tokens + tokens > self.budget && !self.paragraphs.is_empty() {
            let carried = self.paragraphs.last().filter(|(_, t)| *t <= self.options.overlap_tokens && *t + tokens <= self.budget).cloned();
            self.emit();
            if let Some((p, t)) = carried {
                self.paragraphs.push((p, t));
                self.tokens = t;
            }
        }
        self.tokens += tokens;
        self.paragraphs.push((text, tokens));
    }

    /// Cuts one paragraph longer than the budget into word windows that overlap by about
    /// `overlap_tokens`, assuming tokens are spread evenly over its words.
    fn windows(&mut self, text: &str, tokens: usize) {
        let words: Vec<&str> = text.split_whitespace().collect();
        let per_window = (self.budget * words.len() / tokens).max(1);
        let overlap = (self.options.overlap_tokens * words.len() / tokens).min(per_window - 1);
        let step = per_window - overlap;
        let mut start = 0;
        loop {
            let end = (start + per_window).min(words.len());
            self.push_chunk(words[start..end].join(" "));
            if end == words.len() {
                break;
            }
            start += step;
        }
    }

    fn emit(&mut self) {
        if self.paragraphs.is_empty() {
            return;
        }
        let text = self.paragraphs.drain(..).map(|(p, _)| p).collect::<Vec<_>>().join("\n\n");
        self.tokens = 0;
        self.push_chunk(text);
    }

    fn push_chunk(&mut self, text: String) {
        self.out.push(Chunk {
            url: self.url.to_string(),
            title: self.title.to_string(),
            headings: self.headings.iter().map(|(_, h)| h.clone()).collect(),
            anchor: self.anchor.clone(),
            text,
        });
    }

    fn text_budget(&self) -> usize {
        let headings: Vec<String> = self.headings.iter().map(|(_, h)| h.clone()).collect();
        let context = (self.count_tokens)(&context_line(self.title, &headings));
        self.options.max_tokens.saturating_sub(context + SPECIAL_TOKENS).max(MIN_BUDGET)
    }
}
