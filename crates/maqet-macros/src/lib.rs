//! The `#[api_method]` attribute: one declaration per maqet command.
//!
//! Put it on a method of `Maqet` (in `maqet-core`). The method stays an ordinary, typed Rust
//! method; the attribute additionally registers the command's metadata and a JSON invoker in the
//! `maqet_core::registry` through `inventory`. From that registry the CLI builds its command tree,
//! `docs/cli-reference.md` is generated, plugins call commands by name, and `maqet.conf` supplies
//! option defaults. `#[derive(PythonDict)]` on a command's result struct makes it a `TypedDict`
//! in the Python stub (`python_dict.rs`); `#[derive(OneOf)]` is an exactly-one-of parameter.
//!
//! ```ignore
//! #[api_requests]
//! impl Maqet {
//!     /// Show a VM's configuration and the QEMU command line it produces.
//!     #[api_method(category = "vm", examples = ["maqet info web"])]
//!     pub fn info(
//!         &self,
//!         #[arg(positional, help = "VM name or id")] vm: String,
//!     ) -> Result<VmInfo, MaqetError> {
//!         /* ... */
//!     }
//! }
//! ```
//!
//! For each method it also generates the downstream Rust API (see `builder.rs`):
//! `Maqet::<name>(required..)` returns a builder with one setter per optional parameter, the
//! blocking `.send()`, and `IntoFuture`, so `.await` runs the same call from async code. The
//! builder is the one public call shape of the command (besides `Maqet::call(name, json)`): the
//! method as written stays the command's handler, crate-private and hidden from the docs. The
//! request struct `<Name>Request` and the builder `<Name>Builder` come from `#[api_requests]`,
//! which must sit on the `impl Maqet` block holding `#[api_method]`s:
//!
//! ```ignore
//! #[api_requests]
//! impl Maqet {
//!     /// Stop a VM.
//!     #[api_method(category = "vm")]
//!     pub fn stop(
//!         &self,
//!         #[arg(positional, help = "VM name or id")] vm: String,
//!         #[arg(help = "Skip the graceful power-down")] force: bool,
//!         #[arg(help = "Seconds the guest gets", default = "30")] timeout: f64,
//!     ) -> Result<StopReport, MaqetError> { /* ... */ }
//! }
//! // Downstream:
//! maqet.stop("web").force(true).send()?;            // blocking; timeout = 30
//! maqet.stop("web").force(true).await?;             // the same, in async code
//! maqet.execute(StopRequest { force: true, ..StopRequest::new("web") })?;
//! ```
//!
//! (`ignore`: an `impl Maqet` compiles only inside `maqet-core`; `maqet-core`'s own doctests
//! and `crates/maqet-core/tests/builders.rs` run the generated API.)
//!
//! Method attribute keys: `name` (CLI name; default: the method name with `_` → `-`), `group`
//! (parent command such as `qmp` or `storage`; naming a new group creates it), `group_about`
//! (the group's one-line description, given on exactly one method of the group), `category`,
//! `about` (default: the first doc line), `examples = [..]`, `aliases = [..]`, `hidden`, `no_builder` (keep the method as written and generate no
//! builder: for methods declared outside `maqet-core`, in a trait implemented for `Maqet`).
//!
//! The Python face (`maqet_core::registry::PythonFace`; the methods, stub and docs table are
//! generated from it): `python_name = ".."` (default: the path with spaces and dashes as `_`),
//! `python_params = ["vm as vm_id", "*keys", "hold_time"]` (the method's parameters in order,
//! each `param` or `param as python_name`, `*` for a list that collects the remaining
//! positional arguments; parameters not listed stay out of the method; default: all of them,
//! required first), `python_returns = ".."` (a `PythonReturn` in snake_case: `object`, `vm`,
//! `text`, ...; default `json`), `python_full = ".."` (a second method with every parameter: the
//! `python_params` ones, then the rest keyword-only).
//!
//! Parameter attribute `#[arg(..)]` keys: `positional`, `help = ".."`, `default = ".."`,
//! `long = ".."` (flag name; default: the parameter name in kebab-case), `short = 'x'`,
//! `value_name = ".."`, `confirm = ".."` (a question a terminal user answers before the command
//! runs with this flag), `answers_yes` (this flag skips those questions), `one_of` (the
//! parameter is an enum deriving `OneOf`: exactly one of its variants' flags, see `one_of.rs`). The parameter's Rust
//! type decides its kind (string, flag, number, path, list, key/value pairs) and its accepted
//! values (an enum implementing `maqet_core::registry::Choice`) through
//! `maqet_core::registry::ArgType`.

mod builder;
mod one_of;
mod python_dict;
mod python_face;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprArray, ExprLit, FnArg, ImplItemFn, Lit, Meta, Pat, Token,
    parse_macro_input,
};

/// Generates the typed request and builder types of the `#[api_method]`s in an `impl Maqet`
/// block. See the crate documentation.
#[proc_macro_attribute]
pub fn api_requests(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::ItemImpl);
    match builder::expand_impl(item) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// A command's result struct as a Python `TypedDict` (`maqet_core::registry::PythonType`),
/// read from its fields and their `#[serde(..)]` attributes; see `python_dict.rs`.
#[proc_macro_derive(PythonDict, attributes(serde))]
pub fn derive_python_dict(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    python_dict::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// A parameter that is exactly one of several flags, declared as an enum. See `one_of.rs`.
#[proc_macro_derive(OneOf, attributes(arg))]
pub fn derive_one_of(item: TokenStream) -> TokenStream {
    let input = parse_macro_input!(item as syn::DeriveInput);
    match one_of::expand(input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Registers a `Maqet` method as a maqet command. See the crate documentation.
#[proc_macro_attribute]
pub fn api_method(attr: TokenStream, item: TokenStream) -> TokenStream {
    let metas = parse_macro_input!(attr with Punctuated::<Meta, Token![,]>::parse_terminated);
    let method = parse_macro_input!(item as ImplItemFn);
    match expand(metas, method) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

#[derive(Default)]
struct MethodAttrs {
    name: Option<String>,
    group: Option<String>,
    group_about: Option<String>,
    category: Option<String>,
    about: Option<String>,
    examples: Vec<String>,
    aliases: Vec<String>,
    hidden: bool,
    no_builder: bool,
    python_name: Option<String>,
    python_params: Option<Vec<String>>,
    python_returns: Option<String>,
    python_full: Option<String>,
}

#[derive(Default)]
pub(crate) struct ParamAttrs {
    one_of: bool,
    positional: bool,
    help: Option<String>,
    default: Option<String>,
    long: Option<String>,
    short: Option<char>,
    value_name: Option<String>,
    confirm: Option<String>,
    answers_yes: bool,
}

fn expand(metas: Punctuated<Meta, Token![,]>, mut method: ImplItemFn) -> syn::Result<TokenStream2> {
    let attrs = parse_method_attrs(&metas)?;
    let builder_params = builder::params_of(&method.sig)?;
    let rust_name = method.sig.ident.to_string();
    let cli_name = attrs
        .name
        .clone()
        .unwrap_or_else(|| rust_name.replace('_', "-"));
    let docs = doc_lines(&method.attrs);
    let about = attrs
        .about
        .clone()
        .or_else(|| docs.first().cloned())
        .ok_or_else(|| {
            syn::Error::new(
                method.sig.ident.span(),
                "api_method needs a description: add a doc comment or `about = \"..\"`",
            )
        })?;
    let long_about = docs.join("\n");

    match method.sig.inputs.first() {
        Some(FnArg::Receiver(_)) => {}
        _ => {
            return Err(syn::Error::new(
                method.sig.span(),
                "api_method must be on a method taking `&self`",
            ));
        }
    }

    let mut param_specs = Vec::new();
    let mut group_parts = Vec::new();
    let mut extractions = Vec::new();
    let mut call_args = Vec::new();
    for input in method.sig.inputs.iter_mut().skip(1) {
        let FnArg::Typed(pat_type) = input else {
            continue;
        };
        let (ident, param) = param_of(pat_type)?;
        pat_type.attrs.retain(|attr| !attr.path().is_ident("arg"));
        let name = ident.to_string();
        let name = name.trim_start_matches('_').to_string();
        let ty = pat_type.ty.as_ref().clone();
        let var = format_ident!("__arg_{}", ident);
        if param.one_of {
            // The enum's flags, at this place; one value of the enum for the handler.
            group_parts.push((
                param_specs.len(),
                quote!(<#ty as ::maqet_core::registry::OneOf>::PARAMS),
            ));
            extractions.push(quote! {
                let #var: #ty = <#ty as ::maqet_core::registry::OneOf>::take_from(args)?;
            });
            call_args.push(var);
            continue;
        }
        let help = param.help.clone().ok_or_else(|| {
            syn::Error::new(
                ident.span(),
                format!("parameter `{name}` needs #[arg(help = \"..\")]"),
            )
        })?;
        let positional = param.positional;
        let default = opt_str(&param.default);
        let long = param.long.clone().unwrap_or_else(|| name.replace('_', "-"));
        let short = match param.short {
            Some(c) => quote!(::core::option::Option::Some(#c)),
            None => quote!(::core::option::Option::None),
        };
        let value_name = opt_str(&param.value_name);
        let confirm = opt_str(&param.confirm);
        let answers_yes = param.answers_yes;
        param_specs.push(quote! {
            ::maqet_core::registry::ParamSpec {
                name: #name,
                long: #long,
                short: #short,
                kind: <#ty as ::maqet_core::registry::ArgType>::KIND,
                item_kind: <#ty as ::maqet_core::registry::ArgType>::ITEM_KIND,
                required: <#ty as ::maqet_core::registry::ArgType>::REQUIRED && #default.is_none(),
                positional: #positional,
                help: #help,
                default: #default,
                value_name: #value_name,
                possible_values: <#ty as ::maqet_core::registry::ArgType>::CHOICES,
                confirm: #confirm,
                answers_yes: #answers_yes,
                one_of: ::core::option::Option::None,
            }
        });
        extractions.push(quote! {
            let #var: #ty = args.take::<#ty>(#name, #default)?;
        });
        call_args.push(var);
    }

    let param_names: Vec<String> = method
        .sig
        .inputs
        .iter()
        .skip(1)
        .filter_map(|input| match input {
            FnArg::Typed(t) => match t.pat.as_ref() {
                Pat::Ident(i) => Some(i.ident.to_string().trim_start_matches('_').to_string()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect();
    let python = python_face::tokens(
        &attrs,
        &param_names,
        &method.sig.output,
        method.sig.ident.span(),
    )?;
    let entry = if attrs.no_builder {
        TokenStream2::new()
    } else {
        let entry = builder::entry_method(&method, &builder_params);
        method.sig.ident = builder::handler_ident(&method.sig.ident);
        method.vis = syn::parse_quote!(pub(crate));
        method.attrs.push(syn::parse_quote!(#[doc(hidden)]));
        entry
    };
    let fn_ident = &method.sig.ident;
    let group = opt_str(&attrs.group);
    let category = attrs
        .category
        .clone()
        .or_else(|| attrs.group.clone())
        .unwrap_or_else(|| "general".into());
    let examples = &attrs.examples;
    let aliases = &attrs.aliases;
    let hidden = attrs.hidden;
    let group_registration = match (&attrs.group, &attrs.group_about) {
        (Some(group), Some(about)) => quote! {
            ::maqet_core::inventory::submit! {
                ::maqet_core::registry::ApiGroup { name: #group, about: #about }
            }
        },
        (None, Some(_)) => {
            return Err(syn::Error::new(
                method.sig.ident.span(),
                "`group_about` describes the method's group: add `group = \"..\"` too",
            ));
        }
        _ => quote!(),
    };
    let params = params_expr(&param_specs, &group_parts);
    let registration = quote! {
        #group_registration
        ::maqet_core::inventory::submit! {
            ::maqet_core::registry::ApiMethod {
                name: #cli_name,
                rust_name: #rust_name,
                group: #group,
                category: #category,
                about: #about,
                long_about: #long_about,
                examples: &[#(#examples),*],
                aliases: &[#(#aliases),*],
                hidden: #hidden,
                params: #params,
                python: #python,
                invoke: {
                    fn __invoke(
                        maqet: &Maqet,
                        args: &mut ::maqet_core::registry::Args,
                    ) -> ::core::result::Result<::maqet_core::registry::Output, ::maqet_core::MaqetError> {
                        #(#extractions)*
                        args.ensure_consumed()?;
                        let result = Maqet::#fn_ident(maqet, #(#call_args),*)?;
                        ::core::result::Result::Ok(::maqet_core::registry::Output::new(result))
                    }
                    __invoke
                },
            }
        }
    };
    let body = &method.block;
    let new_block: syn::Block = syn::parse2(quote!({ #registration #body }))?;
    method.block = new_block;
    Ok(quote!(#entry #method))
}

/// The `params` of the registry record: the parameters' specs in declaration order, with the
/// flags of each `#[arg(one_of)]` enum spliced in at its place (a const concatenation, as the
/// enum's flags are declared beside the enum).
fn params_expr(specs: &[TokenStream2], groups: &[(usize, TokenStream2)]) -> TokenStream2 {
    if groups.is_empty() {
        return quote!(&[#(#specs),*]);
    }
    let mut parts = Vec::new();
    let mut next = 0;
    for (at, group) in groups {
        let before = &specs[next..*at];
        parts.push(quote!(&[#(#before),*]));
        parts.push(group.clone());
        next = *at;
    }
    let rest = &specs[next..];
    parts.push(quote!(&[#(#rest),*]));
    quote! {{
        const PARTS: &[&[::maqet_core::registry::ParamSpec]] = &[#(#parts),*];
        const ALL: [::maqet_core::registry::ParamSpec; ::maqet_core::registry::params_len(PARTS)] =
            ::maqet_core::registry::concat_params(PARTS);
        &ALL
    }}
}

pub(crate) fn opt_str(value: &Option<String>) -> TokenStream2 {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::<&'static str>::None),
    }
}

fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            lines.push(s.value().trim().to_string());
        }
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn parse_method_attrs(metas: &Punctuated<Meta, Token![,]>) -> syn::Result<MethodAttrs> {
    let mut out = MethodAttrs::default();
    for meta in metas {
        let key = meta_key(meta)?;
        match key.as_str() {
            "hidden" => out.hidden = true,
            "no_builder" => out.no_builder = true,
            "name" => out.name = Some(string_value(meta)?),
            "group" => out.group = Some(string_value(meta)?),
            "group_about" => out.group_about = Some(string_value(meta)?),
            "category" => out.category = Some(string_value(meta)?),
            "about" => out.about = Some(string_value(meta)?),
            "examples" => out.examples = string_list(meta)?,
            "aliases" => out.aliases = string_list(meta)?,
            "python_name" => out.python_name = Some(string_value(meta)?),
            "python_params" => out.python_params = Some(string_list(meta)?),
            "python_returns" => out.python_returns = Some(string_value(meta)?),
            "python_full" => out.python_full = Some(string_value(meta)?),
            other => {
                return Err(syn::Error::new(
                    meta.span(),
                    format!(
                        "unknown api_method key `{other}`; expected name, group, group_about, category, about, examples, aliases, hidden, no_builder, python_name, python_params, python_returns or python_full"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// A parameter's identifier and its `#[arg(..)]` keys.
pub(crate) fn param_of(pat_type: &syn::PatType) -> syn::Result<(syn::Ident, ParamAttrs)> {
    let Pat::Ident(pat_ident) = pat_type.pat.as_ref() else {
        return Err(syn::Error::new(
            pat_type.pat.span(),
            "api_method parameters must be plain identifiers",
        ));
    };
    let mut attrs = ParamAttrs::default();
    for attr in &pat_type.attrs {
        if attr.path().is_ident("arg") {
            parse_param_attr(attr, &mut attrs)?;
        }
    }
    Ok((pat_ident.ident.clone(), attrs))
}

pub(crate) fn parse_param_attr(attr: &Attribute, out: &mut ParamAttrs) -> syn::Result<()> {
    let metas = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    for meta in &metas {
        let key = meta_key(meta)?;
        match key.as_str() {
            "positional" => out.positional = true,
            "one_of" => out.one_of = true,
            "help" => out.help = Some(string_value(meta)?),
            "default" => out.default = Some(string_value(meta)?),
            "long" => out.long = Some(string_value(meta)?),
            "value_name" => out.value_name = Some(string_value(meta)?),
            "confirm" => out.confirm = Some(string_value(meta)?),
            "answers_yes" => out.answers_yes = true,
            "short" => {
                let Meta::NameValue(nv) = meta else {
                    return Err(syn::Error::new(meta.span(), "expected `short = 'c'`"));
                };
                match &nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Char(c), ..
                    }) => out.short = Some(c.value()),
                    other => return Err(syn::Error::new(other.span(), "expected a char")),
                }
            }
            other => {
                return Err(syn::Error::new(
                    meta.span(),
                    format!(
                        "unknown arg key `{other}`; expected positional, one_of, help, default, long, short, value_name, confirm or answers_yes (accepted values come from the parameter's type)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn meta_key(meta: &Meta) -> syn::Result<String> {
    meta.path()
        .get_ident()
        .map(|i| i.to_string())
        .ok_or_else(|| syn::Error::new(meta.span(), "expected a plain key"))
}

fn string_value(meta: &Meta) -> syn::Result<String> {
    let Meta::NameValue(nv) = meta else {
        return Err(syn::Error::new(meta.span(), "expected `key = \"value\"`"));
    };
    lit_string(&nv.value)
}

fn lit_string(expr: &Expr) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        other => Err(syn::Error::new(other.span(), "expected a string literal")),
    }
}

fn string_list(meta: &Meta) -> syn::Result<Vec<String>> {
    let Meta::NameValue(nv) = meta else {
        return Err(syn::Error::new(
            meta.span(),
            "expected `key = [\"a\", \"b\"]`",
        ));
    };
    match &nv.value {
        Expr::Array(ExprArray { elems, .. }) => elems.iter().map(lit_string).collect(),
        Expr::Lit(_) => Ok(vec![lit_string(&nv.value)?]),
        other => Err(syn::Error::new(
            other.span(),
            "expected an array of strings",
        )),
    }
}
