//! Writing the registration: the user's function, unchanged, and an `inventory` entry.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Expr, ExprLit, ItemFn, Lit, LitStr, Meta};

use crate::args::{self, Args, Role};
use crate::checksum::source_checksum;
use crate::signature::{self, Kind};

/// The whole expansion of `#[migration(attr)] item`. Errors become `compile_error!`
/// here, once, and the user's item is emitted in every case.
pub(crate) fn migration(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new_spanned(
                first_tokens(&item),
                "#[migration] goes on a function: `fn name(s: &mut Schema)` or \
                 `async fn name(ctx: &mut DataContext<'_>) -> shiplap::Result<()>`",
            );
            let error = error.to_compile_error();
            return quote! { #error #item };
        }
    };
    // Check the arguments and the signature together, so both kinds of mistake show.
    let (args, kind) = match (args::parse(attr), signature::check(&func)) {
        (Ok(args), Ok(kind)) => (args, kind),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return with_error(&func, a);
        }
        (Err(e), _) | (_, Err(e)) => return with_error(&func, e),
    };
    if args.role == Role::Repeatable && kind == Kind::Data {
        return with_error(
            &func,
            syn::Error::new_spanned(
                &func.sig,
                "a repeatable migration is `fn name(s: &mut Schema)`: its SQL is what decides \
                 when it is applied again, and Rust code has none to compare",
            ),
        );
    }
    if args.role != Role::Versioned && args.nothing_to_undo.is_some() {
        return with_error(
            &func,
            syn::Error::new_spanned(
                &func.sig,
                "`nothing_to_undo` is for versioned data migrations",
            ),
        );
    }
    if let (Kind::Schema, Some(reason)) = (kind, &args.nothing_to_undo) {
        return with_error(
            &func,
            syn::Error::new(
                reason.span(),
                "`nothing_to_undo` is for data migrations: on a schema migration, call \
                 `.nothing_to_undo(\"why\")` on the step instead",
            ),
        );
    }
    register(&func, &args, kind)
}

fn with_error(func: &ItemFn, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote! { #error #func }
}

/// The tokens an error about the whole item points at: its first few, so the message
/// sits on the item's first line rather than spanning all of it.
fn first_tokens(item: &TokenStream) -> TokenStream {
    item.clone().into_iter().take(2).collect()
}

fn register(func: &ItemFn, args: &Args, kind: Kind) -> TokenStream {
    let ident = &func.sig.ident;
    let version = args.version;
    let name = match &args.name {
        Some(name) => name.value(),
        None => ident.to_string().trim_start_matches("r#").to_owned(),
    };
    let transaction = args.transaction;
    let no_transaction_on: Vec<String> = args.no_transaction_on.iter().map(LitStr::value).collect();
    let checksum = source_checksum(func, transaction, &no_transaction_on);
    let doc = doc_text(func);
    let nothing_to_undo = match &args.nothing_to_undo {
        Some(reason) => quote!(::core::option::Option::Some(#reason)),
        None => quote!(::core::option::Option::None),
    };
    let krate = match &args.krate {
        Some(path) => quote!(#path),
        // Spanned like the rest, so errors point at the user's function.
        None => quote_spanned!(ident.span()=> ::shiplap),
    };
    let role = syn::Ident::new(args.role.variant(), ident.span());
    let environments = &args.environments;
    let event = match &args.event {
        Some(event) => quote!(::core::option::Option::Some(#krate::__private::Event::#event)),
        None => quote!(::core::option::Option::None),
    };
    let allow = args.allow.iter().map(|allow| {
        let (rule, why) = (&allow.rule, &allow.why);
        let step = match allow.step {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        quote!(#krate::__private::Allow::__new(#rule, #why, #step))
    });
    // Spanned at the user's function name: a wrong type fails there, not in here.
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let run = match kind {
        Kind::Schema => quote_spanned! {ident.span()=>
            #krate::__private::MigrationFn::Schema(#ident)
        },
        Kind::Data => quote_spanned! {ident.span()=>
            #krate::__private::MigrationFn::Data({
                fn run<'a, 'c>(
                    ctx: &'a mut #krate::DataContext<'c>,
                ) -> #krate::__private::BoxFuture<'a> {
                    ::std::boxed::Box::pin(#ident(ctx))
                }
                run
            })
        },
    };
    quote! {
        #func

        const _: () = {
            #krate::__private::inventory::submit! {
                #krate::__private::Migration::__new(
                    #version,
                    #name,
                    #run,
                    #transaction,
                    #checksum,
                    #doc,
                    #nothing_to_undo,
                    &[#(#allow),*],
                    #krate::__private::Location::__new(
                        ::core::file!(),
                        #line,
                        ::core::module_path!(),
                    ),
                    #krate::__private::Role::#role,
                    &[#(#environments),*],
                    #event,
                    &[#(#no_transaction_on),*],
                )
            }
        };
    }
}

/// The function's doc comment, one line per `///` line, trimmed.
fn doc_text(func: &ItemFn) -> String {
    let lines: Vec<String> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_owned()
}
