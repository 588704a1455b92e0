//! Parsing and checking the arguments of `#[migration(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitBool, LitStr, Meta, Token, UnOp};

/// The checked arguments of one `#[migration(...)]`.
pub(crate) struct Args {
    /// The version; 0 for a repeatable migration.
    pub(crate) version: i64,
    /// What it is, when not a versioned migration: `repeatable`, `seed` or `callback`.
    pub(crate) role: Role,
    /// `environments = ["development", ...]`: where a seed runs (empty: everywhere).
    pub(crate) environments: Vec<LitStr>,
    /// `callback = "after_run"`: the event's variant name (`AfterRun`).
    pub(crate) event: Option<syn::Ident>,
    /// `no_transaction_on = ["postgres"]`: the backends it runs on without a transaction.
    pub(crate) no_transaction_on: Vec<LitStr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) transaction: bool,
    /// `nothing_to_undo = "why"`: a data migration whose revert changes nothing.
    pub(crate) nothing_to_undo: Option<LitStr>,
    /// `allow(rule = "why", rule(step = N, why = "..."), ...)`: lint findings
    /// acknowledged, with the reason, for the whole migration or one step of it.
    pub(crate) allow: Vec<Allow>,
    /// `crate = path`: where the shiplap runtime is, for a crate that renames its
    /// dependency or re-exports it (default `::shiplap`).
    pub(crate) krate: Option<syn::Path>,
}

/// What the attribute registers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Versioned,
    Repeatable,
    Seed,
    Callback,
}

impl Role {
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Role::Versioned => "Versioned",
            Role::Repeatable => "Repeatable",
            Role::Seed => "Seed",
            Role::Callback => "Callback",
        }
    }
}

/// The events a callback can run at, with their variant names.
const EVENTS: [(&str, &str); 5] = [
    ("before_run", "BeforeRun"),
    ("after_run", "AfterRun"),
    ("before_each", "BeforeEach"),
    ("after_each", "AfterEach"),
    ("on_error", "OnError"),
];

/// One acknowledged rule.
pub(crate) struct Allow {
    pub(crate) rule: String,
    pub(crate) why: LitStr,
    /// The step it is about (from 1, as the lint numbers them); `None`: every step.
    pub(crate) step: Option<usize>,
}

const KEYS: &str = "`version`, `repeatable`, `seed`, `callback`, `environments`, `name`, \
                    `transaction`, `no_transaction_on`, `nothing_to_undo`, `allow(...)`, `crate`";

/// Parses the attribute's arguments, reporting every mistake at once.
pub(crate) fn parse(attr: TokenStream) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let mut errors = Errors::default();
    let mut version = None;
    let mut name = None;
    let mut transaction = None;
    let mut nothing_to_undo = None;
    let mut allow: Option<Vec<Allow>> = None;
    let mut krate: Option<syn::Path> = None;
    // `repeatable` or `seed`: the flag and where it was written.
    let mut flag: Option<(Role, &syn::Path)> = None;
    let mut callback: Option<(syn::Ident, &Expr)> = None;
    let mut environments: Option<Vec<LitStr>> = None;
    let mut no_transaction_on: Option<Vec<LitStr>> = None;

    for meta in &metas {
        if let Meta::Path(path) = meta
            && (path.is_ident("repeatable") || path.is_ident("seed"))
        {
            let role = if path.is_ident("seed") {
                Role::Seed
            } else {
                Role::Repeatable
            };
            if flag.is_some() {
                errors.push(syn::Error::new_spanned(
                    path,
                    "give one of `repeatable` and `seed`, once",
                ));
            }
            flag = Some((role, path));
            continue;
        }
        if let Meta::NameValue(nv) = meta
            && nv.path.is_ident("callback")
        {
            if callback.is_some() {
                errors.push(syn::Error::new_spanned(
                    &nv.path,
                    "duplicate key `callback`: one event per function",
                ));
                continue;
            }
            match parse_event(&nv.value) {
                Ok(event) => callback = Some((event, &nv.value)),
                Err(e) => errors.push(e),
            }
            continue;
        }
        if let Meta::NameValue(nv) = meta
            && nv.path.is_ident("environments")
        {
            if environments.is_some() {
                errors.push(syn::Error::new_spanned(
                    &nv.path,
                    "duplicate key `environments`: list them all in one",
                ));
                continue;
            }
            match parse_environments(&nv.value) {
                Ok(list) => environments = Some(list),
                Err(e) => errors.push(e),
            }
            continue;
        }
        if let Meta::NameValue(nv) = meta
            && nv.path.is_ident("no_transaction_on")
        {
            if no_transaction_on.is_some() {
                errors.push(syn::Error::new_spanned(
                    &nv.path,
                    "duplicate key `no_transaction_on`: list the backends in one",
                ));
                continue;
            }
            match parse_backends(&nv.value) {
                Ok(list) => no_transaction_on = Some(list),
                Err(e) => errors.push(e),
            }
            continue;
        }
        if let Meta::List(list) = meta
            && list.path.is_ident("allow")
        {
            if allow.is_some() {
                errors.push(syn::Error::new_spanned(
                    &list.path,
                    "duplicate key `allow`: list every rule in one `allow(...)`",
                ));
                continue;
            }
            match parse_allow(list) {
                Ok(rules) => allow = Some(rules),
                Err(e) => errors.push(e),
            }
            continue;
        }
        let Meta::NameValue(nv) = meta else {
            errors.push(syn::Error::new_spanned(
                meta,
                format!("expected `key = value`, with a key among {KEYS}"),
            ));
            continue;
        };
        let Some(key) = nv.path.get_ident() else {
            errors.push(syn::Error::new_spanned(
                &nv.path,
                format!("unknown key: expected one of {KEYS}"),
            ));
            continue;
        };
        let key_name = key.to_string();
        let seen = match key_name.as_str() {
            "version" => version.is_some(),
            "name" => name.is_some(),
            "transaction" => transaction.is_some(),
            "nothing_to_undo" => nothing_to_undo.is_some(),
            "crate" => krate.is_some(),
            _ => {
                errors.push(syn::Error::new_spanned(
                    key,
                    format!("unknown key `{key_name}`: expected one of {KEYS}"),
                ));
                continue;
            }
        };
        if seen {
            errors.push(syn::Error::new_spanned(
                key,
                format!("duplicate key `{key_name}`: give it once"),
            ));
            continue;
        }
        let parsed = match key_name.as_str() {
            "version" => parse_version(&nv.value).map(|v| version = Some(v)),
            "name" => parse_name(&nv.value, "name").map(|n| name = Some(n)),
            "nothing_to_undo" => {
                parse_name(&nv.value, "nothing_to_undo").map(|n| nothing_to_undo = Some(n))
            }
            "crate" => parse_path(&nv.value).map(|p| krate = Some(p)),
            _ => parse_bool(&nv.value, "transaction").map(|b| transaction = Some(b)),
        };
        if let Err(e) = parsed {
            errors.push(e);
        }
    }

    let role = match (&flag, &callback) {
        (Some((role, _)), None) => *role,
        (None, Some(_)) => Role::Callback,
        (None, None) => Role::Versioned,
        (Some((_, path)), Some(_)) => {
            errors.push(syn::Error::new_spanned(
                path,
                "a callback is neither repeatable nor a seed: give one of them",
            ));
            Role::Callback
        }
    };
    let version = match (version, role) {
        (Some(_), Role::Repeatable | Role::Seed | Role::Callback) => {
            let what = match role {
                Role::Repeatable => {
                    "a repeatable migration has no version: it is applied after the versioned \
                     ones whenever its SQL changes; remove `version` or `repeatable`"
                }
                Role::Seed => "a seed has no version: it runs every time `migrate seed` does",
                _ => "a callback has no version: it runs at its event",
            };
            let at: &dyn quote::ToTokens = match (&flag, &callback) {
                (Some((_, path)), _) => path,
                (_, Some((_, value))) => value,
                _ => unreachable!("a role other than Versioned came from one of them"),
            };
            errors.push(syn::Error::new_spanned(at, what));
            0
        }
        (None, Role::Repeatable | Role::Seed | Role::Callback) => 0,
        (Some(v), Role::Versioned) => v,
        (None, Role::Versioned) if errors.is_empty() => {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing `version`: every migration needs one, e.g. \
                 `#[migration(version = 20250224120000)]` (a UTC timestamp YYYYMMDDHHMMSS), \
                 or `#[migration(repeatable)]` for a view or function applied again whenever \
                 its SQL changes",
            ));
        }
        (None, Role::Versioned) => 0, // only reached with other errors, reported below
    };
    if let (Some(list), false) = (&environments, role == Role::Seed) {
        errors.push(syn::Error::new(
            list.first().map_or_else(Span::call_site, LitStr::span),
            "`environments` is for seeds: `#[migration(seed, environments = [\"development\"])]`",
        ));
    }
    errors.finish()?;
    Ok(Args {
        version,
        role,
        environments: environments.unwrap_or_default(),
        event: callback.map(|(event, _)| event),
        no_transaction_on: no_transaction_on.unwrap_or_default(),
        name,
        transaction: transaction.unwrap_or(true),
        nothing_to_undo,
        allow: allow.unwrap_or_default(),
        krate,
    })
}

/// `callback = "after_run"`: one of the events, as the variant's identifier.
fn parse_event(value: &Expr) -> syn::Result<syn::Ident> {
    let names = EVENTS.map(|(name, _)| name).join(", ");
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`callback` takes an event's name as a string: one of {names}"),
        ));
    };
    let given = text.value();
    EVENTS
        .iter()
        .find(|(name, _)| *name == given)
        .map(|(_, variant)| syn::Ident::new(variant, text.span()))
        .ok_or_else(|| {
            syn::Error::new(
                text.span(),
                format!("unknown event `{given}`: expected one of {names}"),
            )
        })
}

/// `environments = ["development", "test"]`: environment names, each a non-empty
/// string literal.
fn parse_environments(value: &Expr) -> syn::Result<Vec<LitStr>> {
    let usage = "`environments` takes a list of names, e.g. `environments = [\"development\"]`";
    let Expr::Array(array) = value else {
        return Err(syn::Error::new_spanned(value, usage));
    };
    if array.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            value,
            "`environments = []` would never run: leave it out to run everywhere",
        ));
    }
    array
        .elems
        .iter()
        .map(|e| parse_name(e, "an environment"))
        .collect()
}

/// `no_transaction_on = ["postgres"]`: backend names (`sqlite`, `postgres`, `mysql`).
fn parse_backends(value: &Expr) -> syn::Result<Vec<LitStr>> {
    let usage = "`no_transaction_on` takes backend names: `no_transaction_on = [\"postgres\"]` \
                 (sqlite, postgres, mysql)";
    let Expr::Array(array) = value else {
        return Err(syn::Error::new_spanned(value, usage));
    };
    if array.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            value,
            "`no_transaction_on = []` changes nothing: leave it out",
        ));
    }
    array
        .elems
        .iter()
        .map(|e| match e {
            Expr::Lit(ExprLit {
                lit: Lit::Str(name),
                ..
            }) if ["sqlite", "postgres", "mysql"].contains(&name.value().as_str()) => {
                Ok(name.clone())
            }
            _ => Err(syn::Error::new_spanned(e, usage)),
        })
        .collect()
}

/// `crate = path`: a path such as `my_app::shiplap` (or the same path as a string).
fn parse_path(value: &Expr) -> syn::Result<syn::Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse(),
        _ => Err(syn::Error::new_spanned(
            value,
            "`crate` takes the path of the shiplap crate, e.g. `crate = my_app::shiplap`",
        )),
    }
}

/// The rule whose id is nearest `given` (at most two edits away), for "did you mean".
fn nearest_rule(given: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut previous = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let substituted = previous + usize::from(ca != *cb);
                previous = row[j + 1];
                row[j + 1] = substituted.min(row[j] + 1).min(row[j + 1] + 1);
            }
        }
        row[b.len()]
    }
    crate::rules::RULES
        .iter()
        .map(|rule| (distance(given, rule), *rule))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, rule)| rule)
}

/// `allow(rule = "why", rule(step = N, why = "..."), ...)`: each rule a lint rule's id,
/// each with a reason; the second form acknowledges the rule in one step only.
fn parse_allow(list: &syn::MetaList) -> syn::Result<Vec<Allow>> {
    let entries = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    if entries.is_empty() {
        return Err(syn::Error::new_spanned(
            list,
            "`allow()` is empty: name a rule and why, e.g. `allow(drop_column = \"unused since v2.3\")`",
        ));
    }
    let mut errors = Errors::default();
    let mut rules: Vec<Allow> = Vec::new();
    for entry in &entries {
        let parsed = match entry {
            Meta::NameValue(nv) => rule_id(&nv.path)
                .and_then(|rule| Ok((parse_name(&nv.value, &rule)?, rule)))
                .map(|(why, rule)| (rule, why, None)),
            Meta::List(step) => rule_id(&step.path).and_then(|rule| {
                let (why, number) = parse_step_allow(step, &rule)?;
                Ok((rule, why, Some(number)))
            }),
            Meta::Path(_) => Err(syn::Error::new_spanned(
                entry,
                "expected `rule = \"why\"`, or `rule(step = N, why = \"...\")`: every \
                 acknowledged rule needs a reason",
            )),
        };
        let (rule, why, step) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if rules.iter().any(|a| a.rule == rule && a.step == step) {
            errors.push(syn::Error::new_spanned(
                entry.path(),
                match step {
                    Some(n) => format!("`{rule}` is allowed twice in step {n}"),
                    None => format!("`{rule}` is allowed twice"),
                },
            ));
            continue;
        }
        rules.push(Allow { rule, why, step });
    }
    errors.finish()?;
    Ok(rules)
}

/// A lint rule's id, checked against the rules there are.
fn rule_id(path: &syn::Path) -> syn::Result<String> {
    let Some(rule) = path.get_ident().map(ToString::to_string) else {
        return Err(syn::Error::new_spanned(path, "expected a lint rule's id"));
    };
    if !crate::rules::RULES.contains(&rule.as_str()) {
        return Err(syn::Error::new_spanned(
            path,
            format!(
                "unknown lint rule `{rule}`{}; the rules are: {}",
                nearest_rule(&rule).map_or_else(String::new, |r| format!(" (did you mean `{r}`?)")),
                crate::rules::RULES.join(", ")
            ),
        ));
    }
    Ok(rule)
}

/// `rule(step = N, why = "...")`.
fn parse_step_allow(list: &syn::MetaList, rule: &str) -> syn::Result<(LitStr, usize)> {
    let usage = format!("expected `{rule}(step = N, why = \"...\")`");
    let pairs = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    let (mut step, mut why) = (None, None);
    for pair in &pairs {
        let Meta::NameValue(nv) = pair else {
            return Err(syn::Error::new_spanned(pair, usage));
        };
        if nv.path.is_ident("step") {
            let Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) = &nv.value
            else {
                return Err(syn::Error::new_spanned(
                    &nv.value,
                    "the step is a number: the `step` the lint prints, from 1",
                ));
            };
            match int.base10_parse::<usize>() {
                Ok(n) if n >= 1 => step = Some(n),
                _ => {
                    return Err(syn::Error::new_spanned(
                        int,
                        "steps are counted from 1, as the lint prints them",
                    ));
                }
            }
        } else if nv.path.is_ident("why") {
            why = Some(parse_name(&nv.value, "why")?);
        } else {
            return Err(syn::Error::new_spanned(&nv.path, usage));
        }
    }
    match (why, step) {
        (Some(why), Some(step)) => Ok((why, step)),
        (None, _) => Err(syn::Error::new_spanned(
            list,
            format!("{usage}: every acknowledged rule needs a reason"),
        )),
        (_, None) => Err(syn::Error::new_spanned(
            list,
            format!("{usage}: the step is missing"),
        )),
    }
}

fn parse_version(value: &Expr) -> syn::Result<i64> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            if !int.suffix().is_empty() {
                return Err(syn::Error::new(
                    int.span(),
                    format!(
                        "the version takes no type suffix: write `{}`",
                        int.base10_digits()
                    ),
                ));
            }
            let version: i64 = int.base10_parse().map_err(|_| {
                syn::Error::new(
                    int.span(),
                    format!(
                        "version {} is out of range: it must fit in an i64 (at most {})",
                        int.base10_digits(),
                        i64::MAX
                    ),
                )
            })?;
            // syn folds `-N` into a negative literal, so the sign is checked here too.
            if version < 0 {
                return Err(syn::Error::new(
                    int.span(),
                    "version must be a positive integer, not negative",
                ));
            }
            if version == 0 {
                return Err(syn::Error::new(
                    int.span(),
                    "version must be a positive integer, not 0",
                ));
            }
            Ok(version)
        }
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => Err(syn::Error::new_spanned(
            value,
            "version must be a positive integer, not negative",
        )),
        _ => Err(syn::Error::new_spanned(
            value,
            "version must be an integer literal, e.g. `version = 20250224120000`",
        )),
    }
}

/// A non-empty, one-line string literal for `key`.
fn parse_name(value: &Expr, key: &str) -> syn::Result<LitStr> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(name),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("{key} must be a string literal, e.g. `{key} = \"...\"`"),
        ));
    };
    let text = name.value();
    if text.trim().is_empty() {
        return Err(syn::Error::new(
            name.span(),
            format!("{key} must not be empty"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(syn::Error::new(
            name.span(),
            format!("{key} must be one line of printable text"),
        ));
    }
    Ok(name.clone())
}

fn parse_bool(value: &Expr, key: &str) -> syn::Result<bool> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(LitBool { value, .. }),
            ..
        }) => Ok(*value),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes `true` or `false`"),
        )),
    }
}

/// Collects several errors into one, so that the user sees all of them in one build.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// All the errors so far, and `last`.
    pub(crate) fn with(mut self, last: syn::Error) -> syn::Error {
        self.push(last);
        self.0
            .unwrap_or_else(|| unreachable!("an error was just pushed"))
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
