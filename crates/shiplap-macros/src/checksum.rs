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
pub(crate) fn source_checksum(func: &ItemFn, transaction: bool) -> String {
    let mut canonical = String::new();
    canonical.push_str(if transaction { "tx " } else { "no-tx " });
    write_tokens(&mut canonical, func.sig.to_token_stream());
    write_tokens(&mut canonical, func.block.to_token_stream());
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
                syn::Lit::Str(s) => out.push_str(&format!("{:?}", s.value().replace("\r\n", "\n"))),
                other => out.push_str(&other.to_token_stream().to_string()),
            },
        }
        out.push(' ');
    }
}
