//! Checking the annotated function: what kind of migration its signature declares.

use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::args::Errors;

/// What the function's signature declares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `fn name(s: &mut Schema)`: statements, planned and rendered without a database.
    Schema,
    /// `async fn name(ctx: &mut DataContext<'_>) -> shiplap::Result<()>`: Rust code run
    /// against the database.
    Data,
}

const SCHEMA_SIG: &str = "fn name(s: &mut Schema)";
const DATA_SIG: &str = "async fn name(ctx: &mut DataContext<'_>) -> shiplap::Result<()>";

/// Checks the signature and tells which kind of migration it is, reporting every
/// mistake at once, each at the token that causes it.
pub(crate) fn check(func: &ItemFn) -> syn::Result<Kind> {
    let sig = &func.sig;
    let mut errors = Errors::default();

    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "a migration cannot be a `const fn`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            "a migration cannot be an `unsafe fn`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "a migration cannot have an `extern` ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a migration cannot be generic: it is called once, with shiplap's own types",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a migration takes exactly one argument",
        ));
    }

    let kind = match argument_kind(func) {
        Ok(kind) => kind,
        Err(e) => return Err(errors.with(e)),
    };
    match kind {
        Kind::Schema => {
            if let Some(asyncness) = &sig.asyncness {
                errors.push(syn::Error::new_spanned(
                    asyncness,
                    format!(
                        "a schema migration is not async: write `{SCHEMA_SIG}`, \
                         or take `&mut DataContext<'_>` for a data migration"
                    ),
                ));
            }
            if let ReturnType::Type(_, ty) = &sig.output {
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!("a schema migration returns nothing: write `{SCHEMA_SIG}`"),
                ));
            }
        }
        Kind::Data => {
            if sig.asyncness.is_none() {
                errors.push(syn::Error::new_spanned(
                    sig.fn_token,
                    format!("a data migration is async: write `{DATA_SIG}`"),
                ));
            }
            if let ReturnType::Default = &sig.output {
                errors.push(syn::Error::new(
                    sig.paren_token.span.close(),
                    format!("a data migration returns `shiplap::Result<()>`: write `{DATA_SIG}`"),
                ));
            }
        }
    }
    errors.finish().map(|()| kind)
}

/// Reads the kind from the one argument's type: `&mut Schema` or `&mut DataContext<'_>`.
fn argument_kind(func: &ItemFn) -> syn::Result<Kind> {
    let sig = &func.sig;
    let expected = format!("a migration takes one argument: `{SCHEMA_SIG}` or `{DATA_SIG}`");
    let mut inputs = sig.inputs.iter();
    let (Some(arg), None) = (inputs.next(), inputs.next()) else {
        return Err(if sig.inputs.is_empty() {
            syn::Error::new(sig.paren_token.span.join(), expected)
        } else {
            syn::Error::new_spanned(&sig.inputs, expected)
        });
    };
    let ty = match arg {
        FnArg::Receiver(receiver) => {
            return Err(syn::Error::new_spanned(
                receiver,
                "a migration is a free function, not a method",
            ));
        }
        FnArg::Typed(pat) => &*pat.ty,
    };
    let Type::Reference(reference) = ty else {
        return Err(syn::Error::new_spanned(
            ty,
            "expected `&mut Schema` (a schema migration) or `&mut DataContext<'_>` (a data migration)",
        ));
    };
    let kind = match &*reference.elem {
        Type::Path(path) if path.qself.is_none() => {
            match path
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .as_deref()
            {
                Some("Schema") => Some(Kind::Schema),
                Some("DataContext") => Some(Kind::Data),
                _ => None,
            }
        }
        _ => None,
    };
    let Some(kind) = kind else {
        return Err(syn::Error::new_spanned(
            &reference.elem,
            "expected `&mut Schema` (a schema migration) or `&mut DataContext<'_>` (a data migration)",
        ));
    };
    if reference.mutability.is_none() {
        return Err(syn::Error::new_spanned(
            reference,
            "the argument is a mutable reference: write `&mut`",
        ));
    }
    Ok(kind)
}
