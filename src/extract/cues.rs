//! Question-type cues: what kind of answer a question asks for (a time, a quantity, a person, a
//! place), and whether a sentence holds something of that kind the question does not already
//! say; and the names a question asks about. Cheap word rules, no model: they reorder
//! candidate sentences, they never reject one.

use std::collections::HashSet;

/// The kind of answer a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// "When …", "What year …": a date or a year.
    Time,
    /// "How many …", "How much …", "How long …": a number.
    Quantity,
    /// "Who …", "Whose …": a name.
    Person,
    /// "Where …": a place name.
    Place,
    /// "Is …", "Does …", "Can …": yes or no.
    YesNo,
    /// Anything else ("What …", "Why …", "How do I …").
    Other,
}

const MONTHS: &[&str] = &["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

const NUMBER_WORDS: &[&str] = &[
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "billion",
    "dozen",
    "half",
    "double",
    "twice",
    "single",
];

const AUXILIARIES: &[&str] =
    &["is", "are", "was", "were", "do", "does", "did", "can", "could", "has", "have", "had", "will", "would", "should", "shall", "may", "might", "must"];

/// Lower-cased words of `text` (letters, digits and apostrophes).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The capitalised words of `question` that do not begin one of its sentences, without the
/// punctuation around them and the pronoun "I": the names it asks about ("Lincoln", "HashMap").
/// A question in title case or capitals ("How Do I Sort A Vector?") has none: when over two
/// thirds of four or more such words are capitalised, capitals do not mark names.
pub fn names(question: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut starts_sentence = true;
    let mut inside = 0;
    for token in question.split_whitespace() {
        let word = token.trim_matches(|c: char| !c.is_alphanumeric());
        let pronoun = word == "I" || word.starts_with("I'") || word.starts_with("I’");
        if !starts_sentence && !pronoun && word.chars().next().is_some_and(char::is_alphabetic) {
            inside += 1;
            if word.chars().next().is_some_and(char::is_uppercase) {
                out.push(word);
            }
        }
        if !word.is_empty() {
            starts_sentence = token.ends_with(['.', '?', '!', ':']);
        }
    }
    if inside >= 4 && 3 * out.len() > 2 * inside {
        out.clear();
    }
    out
}

/// The kind of answer `question` asks for.
pub fn kind(question: &str) -> Kind {
    let w = words(question);
    let has = |s: &str| w.iter().any(|x| x == s);
    let pair = |a: &str, b: &str| w.windows(2).any(|p| p[0] == a && p[1] == b);
    if has("when") || pair("what", "year") || pair("which", "year") || pair("what", "date") || pair("what", "century") || pair("which", "century") {
        return Kind::Time;
    }
    if pair("how", "many")
        || pair("how", "much")
        || pair("how", "long")
        || pair("how", "old")
        || pair("how", "far")
        || pair("how", "big")
        || pair("how", "large")
        || pair("how", "tall")
        || pair("how", "high")
        || pair("what", "percentage")
    {
        return Kind::Quantity;
    }
    if has("who") || has("whom") || has("whose") {
        return Kind::Person;
    }
    if has("where") {
        return Kind::Place;
    }
    match w.first() {
        Some(first) if AUXILIARIES.contains(&first.as_str()) => Kind::YesNo,
        _ => Kind::Other,
    }
}

/// Whether `word` (as written) looks like a year: three or four digits from 100 to 2199.
fn is_year(word: &str) -> bool {
    let digits = word.trim_end_matches('s');
    (3..=4).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && digits.parse::<u32>().is_ok_and(|y| (100..2200).contains(&y))
}

fn is_number(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&word.to_lowercase().as_str())
}

/// Capitalised words of `sentence` that are not its first word, lower-cased: a rough sign of a
/// name.
fn capitalised(sentence: &str) -> Vec<String> {
    sentence
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .skip(1)
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .map(str::to_lowercase)
        .collect()
}

/// Whether `sentence` holds an answer of `kind` that is not a word of `question`: a year,
/// month or date for [`Kind::Time`], a number for [`Kind::Quantity`], a capitalised name for
/// [`Kind::Person`] and [`Kind::Place`]. Always true for the other kinds.
pub fn answers_kind(kind: Kind, sentence: &str, question: &str) -> bool {
    let asked: HashSet<String> = words(question).into_iter().collect();
    let raw: Vec<&str> = sentence.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect();
    let new = |w: &&&str| !asked.contains(&w.to_lowercase());
    match kind {
        Kind::Time => raw.iter().filter(new).any(|w| is_year(w) || MONTHS.contains(&w.to_lowercase().as_str())),
        Kind::Quantity => raw.iter().filter(new).any(|w| is_number(w)),
        Kind::Person | Kind::Place => capitalised(sentence).iter().any(|w| !asked.contains(w)),
        Kind::YesNo | Kind::Other => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_capitalised_words_inside_sentences() {
        assert_eq!(names("Who designed the Brightwater Lighthouse?"), ["Brightwater", "Lighthouse"]);
        assert_eq!(names("Lincoln was born where? And when did \"Kentucky\" join?"), ["Kentucky"]);
        assert_eq!(names("How do I use a HashMap in Rust 2021, as I'm told?"), ["HashMap", "Rust"]);
        assert!(names("what is ownership?").is_empty());
        assert!(names("How Do I Sort A Vector Of Structs?").is_empty(), "title case marks no names");
        assert!(names("WHERE IS THE ZORBLANG COMPILER MADE?").is_empty());
        assert_eq!(names("Who is Calvin Coolidge?"), ["Calvin", "Coolidge"]);
        assert_eq!(names("Was Calvin Coolidge a governor of Massachusetts?"), ["Calvin", "Coolidge", "Massachusetts"]);
    }

    #[test]
    fn reads_the_question_kind() {
        assert_eq!(kind("When did Lincoln begin his political career?"), Kind::Time);
        assert_eq!(kind("In what year was the bridge built?"), Kind::Time);
        assert_eq!(kind("How many bytes does a char take?"), Kind::Quantity);
        assert_eq!(kind("Who wrote the Rust Book?"), Kind::Person);
        assert_eq!(kind("Where do otters live?"), Kind::Place);
        assert_eq!(kind("Did his mother die of pneumonia?"), Kind::YesNo);
        assert_eq!(kind("What keyword makes a variable mutable?"), Kind::Other);
    }

    #[test]
    fn finds_new_answers_of_the_asked_kind() {
        assert!(answers_kind(Kind::Time, "He entered politics in 1832.", "When did Lincoln begin his career?"));
        assert!(answers_kind(Kind::Time, "It opened in May.", "When did it open?"));
        assert!(!answers_kind(Kind::Time, "He entered politics young.", "When did Lincoln begin his career?"));
        // The year the question already names is not an answer.
        assert!(!answers_kind(Kind::Time, "The 1862 act was signed.", "When was the 1862 act passed?"));
        assert!(answers_kind(Kind::Quantity, "A char is four bytes.", "How many bytes is a char?"));
        assert!(answers_kind(Kind::Quantity, "It has 18 months of schooling.", "How long was it?"));
        assert!(!answers_kind(Kind::Quantity, "A char is a Unicode scalar.", "How many bytes is a char?"));
        assert!(answers_kind(Kind::Person, "The book was written by Steve Klabnik.", "Who wrote the book?"));
        assert!(!answers_kind(Kind::Person, "Lincoln was born in a cabin.", "Who was Lincoln?"));
        assert!(answers_kind(Kind::Other, "anything", "What is it?"));
    }
}
