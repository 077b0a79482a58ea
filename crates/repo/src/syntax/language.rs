//! Lexicon `language` strings: BCP-47 language tags (RFC 5646).
//!
//! [`validate_language_syntax`] checks well-formedness (RFC 5646 §2.1) with atproto's stricter
//! reading: the primary language subtag is 2 or 3 lowercase letters (the reserved 4 to 8 letter
//! forms are rejected), or the tag is private use (`x-…`) or one of the registered
//! grandfathered tags. [`validate_language`] additionally rejects repeated variant subtags and
//! repeated extension singletons, compared case-insensitively (RFC 5646 §4.1 "valid" tags).

use super::{SyntaxError, SyntaxKind};

/// Longest language tag accepted, in bytes.
const MAX_LANGUAGE_LEN: usize = 128;

/// Registered grandfathered tags, which do not follow the general grammar (RFC 5646 §2.2.8).
const GRANDFATHERED: &[&str] = &[
    "en-GB-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-BE-FR",
    "sgn-BE-NL",
    "sgn-CH-DE",
    "art-lojban",
    "cel-gaulish",
    "no-bok",
    "no-nyn",
    "zh-guoyu",
    "zh-hakka",
    "zh-min",
    "zh-min-nan",
    "zh-xiang",
];

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Language, reason)
}

/// Checks that a language tag is well formed.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Language`].
pub fn validate_language_syntax(tag: &str) -> Result<(), SyntaxError> {
    parse(tag).map(|_| ())
}

/// Checks that a language tag is well formed and has no repeated variants or extension
/// singletons.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Language`].
pub fn validate_language(tag: &str) -> Result<(), SyntaxError> {
    let parsed = parse(tag)?;
    for (idx, variant) in parsed.variants.iter().enumerate() {
        if parsed
            .variants
            .iter()
            .take(idx)
            .any(|earlier| earlier.eq_ignore_ascii_case(variant))
        {
            return Err(err("repeated variant subtag"));
        }
    }
    for (idx, singleton) in parsed.singletons.iter().enumerate() {
        if parsed
            .singletons
            .iter()
            .take(idx)
            .any(|earlier| earlier.eq_ignore_ascii_case(singleton))
        {
            return Err(err("repeated extension singleton"));
        }
    }
    Ok(())
}

/// The parts of a well-formed tag that validity checks look at.
#[derive(Default)]
struct Parsed<'a> {
    variants: Vec<&'a str>,
    singletons: Vec<&'a str>,
}

fn is_alpha(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn is_alnum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_variant(s: &str) -> bool {
    is_alnum(s)
        && ((5..=8).contains(&s.len())
            || (s.len() == 4 && s.bytes().next().is_some_and(|b| b.is_ascii_digit())))
}

fn is_singleton(s: &str) -> bool {
    s.len() == 1 && is_alnum(s) && !s.eq_ignore_ascii_case("x")
}

fn parse(tag: &str) -> Result<Parsed<'_>, SyntaxError> {
    if tag.is_empty() {
        return Err(err("empty"));
    }
    if tag.len() > MAX_LANGUAGE_LEN {
        return Err(err("too long"));
    }
    if GRANDFATHERED.contains(&tag) {
        return Ok(Parsed::default());
    }
    let subtags: Vec<&str> = tag.split('-').collect();
    if subtags
        .iter()
        .any(|s| s.is_empty() || s.len() > 8 || !is_alnum(s))
    {
        return Err(err("subtags must be 1 to 8 letters or digits"));
    }
    let mut rest = subtags.as_slice();
    let mut parsed = Parsed::default();

    let Some((&first, tail)) = rest.split_first() else {
        return Err(err("empty"));
    };
    if first.eq_ignore_ascii_case("x") {
        return private_use(tail).map(|()| parsed);
    }
    if !((2..=3).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_lowercase())) {
        return Err(err("primary language must be 2 or 3 lowercase letters"));
    }
    rest = tail;

    // Up to three extended language subtags (3 letters each).
    let mut n_extlang = 0;
    while let Some((&s, tail)) = rest.split_first() {
        if n_extlang < 3 && s.len() == 3 && is_alpha(s) {
            n_extlang += 1;
            rest = tail;
        } else {
            break;
        }
    }
    // Optional script (4 letters).
    if let Some((&s, tail)) = rest.split_first() {
        if s.len() == 4 && is_alpha(s) {
            rest = tail;
        }
    }
    // Optional region (2 letters or 3 digits).
    if let Some((&s, tail)) = rest.split_first() {
        if (s.len() == 2 && is_alpha(s)) || (s.len() == 3 && is_digit(s)) {
            rest = tail;
        }
    }
    // Variants.
    while let Some((&s, tail)) = rest.split_first() {
        if is_variant(s) {
            parsed.variants.push(s);
            rest = tail;
        } else {
            break;
        }
    }
    // Extensions: a singleton then one or more subtags of 2 to 8 characters.
    while let Some((&s, tail)) = rest.split_first() {
        if !is_singleton(s) {
            break;
        }
        parsed.singletons.push(s);
        rest = tail;
        let mut n_parts = 0;
        while let Some((&part, tail)) = rest.split_first() {
            if part.len() >= 2 {
                n_parts += 1;
                rest = tail;
            } else {
                break;
            }
        }
        if n_parts == 0 {
            return Err(err("extension singleton without subtags"));
        }
    }
    match rest.split_first() {
        None => Ok(parsed),
        Some((&s, tail)) if s.eq_ignore_ascii_case("x") => private_use(tail).map(|()| parsed),
        Some(_) => Err(err("subtag out of place")),
    }
}

/// Checks the subtags after an `x` singleton: at least one, each 1 to 8 characters (already
/// checked by the caller).
fn private_use(subtags: &[&str]) -> Result<(), SyntaxError> {
    if subtags.is_empty() {
        Err(err("private use needs at least one subtag"))
    } else {
        Ok(())
    }
}
