//! The source checksum: a SHA-256 of the migration function's tokens.
//!
//! Tokens, not text: comments, whitespace and line endings do not count, and neither do
//! the function's attributes (doc comments, `#[rustfmt::skip]`: they describe or lay out
//! the migration, they do not change what it does). String literals count by value, with
//! CRLF normalised to LF, so a checkout with CRLF line endings yields the same checksum as
//! one with LF, and `"a\nb"` the same as a literal line break.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use sha2::{Digest, Sha256};
use syn::ItemFn;

/// The hex SHA-256 of the function's signature and body, and the transaction flag.
pub(crate) fn source_checksum(
    func: &ItemFn,
    transaction: bool,
    no_transaction_on: &[String],
) -> String {
    let mut canonical = String::new();
    canonical.push_str(if transaction { "tx " } else { "no-tx " });
    // Only when given: the checksums of migrations without it stay as they were.
    for backend in no_transaction_on {
        canonical.push_str(&format!("no-tx-on:{backend} "));
    }
    write_tokens(&mut canonical, func.sig.to_token_stream());
    write_tokens(&mut canonical, func.block.to_token_stream());
    let digest = Sha256::digest(canonical.as_bytes());
    hex::encode(digest)
}

/// Writes a string's value quoted, escaping ASCII as `{:?}` does and keeping every other
/// character as it is. The same text as `{:?}` for the strings people write (whose
/// non-ASCII characters are printable), so checksums recorded by earlier builds stay
/// valid; unlike `{:?}`, it does not depend on the toolchain's Unicode tables, which decide
/// which non-ASCII characters `{:?}` escapes and change with Rust releases.
fn write_str(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_ascii_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_tokens(out: &mut String, tokens: TokenStream) {
    for tree in tokens {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                out.push(' ');
                write_tokens(out, group.stream());
                out.push_str(close);
            }
            TokenTree::Ident(ident) => out.push_str(&ident.to_string()),
            TokenTree::Punct(punct) => {
                out.push(punct.as_char());
                if punct.spacing() == Spacing::Joint {
                    // `->` stays apart from `- >`.
                    continue;
                }
            }
            TokenTree::Literal(literal) => match syn::Lit::new(literal) {
                // By value: `"a\nb"` and a literal line break are the same string.
                syn::Lit::Str(s) => write_str(out, &s.value().replace("\r\n", "\n")),
                other => out.push_str(&other.to_token_stream().to_string()),
            },
        }
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum_of(source: &str) -> String {
        source_checksum(&syn::parse_str(source).unwrap(), true, &[])
    }

    /// A golden value: it must never change, whatever the toolchain.
    #[test]
    fn checksum_of_a_non_ascii_literal_is_pinned() {
        let func = "fn m(s: &mut Schema) { s.raw(\"COMMENT ON TABLE t IS 'caf\u{e9} \u{2014} \u{65e5}\u{672c} \u{1f680} a\u{301}'\"); }";
        assert_eq!(
            checksum_of(func),
            "7f9c3bfd687759aa3a1af26b9d898a19df1de14f3da77a2be600bcd419592191"
        );
    }

    /// Equal to `{:?}` for what people write, so recorded checksums stay valid.
    #[test]
    fn strings_are_written_as_debug_writes_them() {
        for value in [
            "plain",
            "quote \" and backslash \\ and 'single'",
            "tab\tnew\nline\rnul\0bell\u{7}del\u{7f}",
            "caf\u{e9} \u{65e5}\u{672c} \u{1f680}",
        ] {
            let mut out = String::new();
            write_str(&mut out, value);
            assert_eq!(out, format!("{value:?}"), "{value}");
        }
    }
}
