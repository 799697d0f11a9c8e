//! `#[derive(Request)]` and `#[derive(Choice)]`: a plugin declares its command as a struct (one
//! field per parameter) and receives the call's arguments as that struct, the way a built-in
//! `#[api_method]` receives typed parameters.
//!
//! The expansions name `::maqet_plugin_api::command`, the `maqet-command` crate as the plugin
//! API re-exports it, so a plugin needs no other maqet crate; use the derives through
//! `maqet_plugin_api::{Request, Choice}`.
//!
//! ```ignore
//! /// Greet someone
//! #[derive(Request)]
//! #[request(name = "hello", example = "maqet hello world")]
//! struct HelloRequest {
//!     /// Who to greet
//!     #[param(positional)]
//!     name: String,
//!     /// Wait this long before answering
//!     #[param(default = "0")]
//!     wait: std::time::Duration,
//! }
//! ```

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{Attribute, Data, DeriveInput, Fields, LitChar, LitStr, parse_macro_input};

mod choice;

/// Gives a struct [`Request`](../maqet_command/trait.Request.html): its `CommandSpec` (from
/// `#[request(..)]`, the struct's doc comment and one parameter per field) and `from_args`.
///
/// `#[request(name = "..", about = "..", group = "..", category = "..", example = "..",
/// alias = "..")]`: `name` is required; `about` defaults to the doc comment; `example` and
/// `alias` may repeat. On a field, `#[param(positional, default = "..", short = 'x',
/// value_name = "..")]`; the field's doc comment is its help, its type (any `FromArg`) its kind.
#[proc_macro_derive(Request, attributes(request, param))]
pub fn derive_request(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    request(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Gives an enum of unit variants `Choice` and `FromArg`: each variant is accepted by its name
/// in kebab-case (`NetBackend::Passt` is `passt`), or by `#[choice(name = "..")]`.
#[proc_macro_derive(Choice, attributes(choice))]
pub fn derive_choice(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    choice::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The doc comment's lines, trimmed and joined with spaces.
pub(crate) fn doc_text(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) = &nv.value
        {
            lines.push(text.value().trim().to_owned());
        }
    }
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Default)]
struct RequestAttrs {
    name: Option<LitStr>,
    about: Option<LitStr>,
    group: Option<LitStr>,
    category: Option<LitStr>,
    examples: Vec<LitStr>,
    aliases: Vec<LitStr>,
}

fn request_attrs(input: &DeriveInput) -> syn::Result<RequestAttrs> {
    let mut out = RequestAttrs::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("request")) {
        attr.parse_nested_meta(|meta| {
            let value = || -> syn::Result<LitStr> { meta.value()?.parse() };
            if meta.path.is_ident("name") {
                out.name = Some(value()?);
            } else if meta.path.is_ident("about") {
                out.about = Some(value()?);
            } else if meta.path.is_ident("group") {
                out.group = Some(value()?);
            } else if meta.path.is_ident("category") {
                out.category = Some(value()?);
            } else if meta.path.is_ident("example") {
                out.examples.push(value()?);
            } else if meta.path.is_ident("alias") {
                out.aliases.push(value()?);
            } else {
                return Err(meta.error(
                    "unknown `request` key; use name, about, group, category, example or alias",
                ));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

#[derive(Default)]
struct ParamAttrs {
    positional: bool,
    default: Option<LitStr>,
    short: Option<LitChar>,
    value_name: Option<LitStr>,
}

fn param_attrs(attrs: &[Attribute]) -> syn::Result<ParamAttrs> {
    let mut out = ParamAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("param")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("positional") {
                out.positional = true;
            } else if meta.path.is_ident("default") {
                out.default = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("short") {
                out.short = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("value_name") {
                out.value_name = Some(meta.value()?.parse()?);
            } else {
                return Err(
                    meta.error("unknown `param` key; use positional, default, short or value_name")
                );
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn option_tokens<T: quote::ToTokens>(value: Option<&T>, map: Tokens) -> Tokens {
    match value {
        Some(v) => quote! { ::core::option::Option::Some(#v #map) },
        None => quote! { ::core::option::Option::None },
    }
}

fn request(input: &DeriveInput) -> syn::Result<Tokens> {
    let attrs = request_attrs(input)?;
    let Some(name) = &attrs.name else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Request)] needs #[request(name = \"command-name\")]",
        ));
    };
    let about = match &attrs.about {
        Some(about) => about.value(),
        None => doc_text(&input.attrs),
    };
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Request)] is for a struct with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Request)] is for a struct with named fields",
        ));
    };
    let cmd = quote! { ::maqet_plugin_api::command };
    let mut specs = Vec::new();
    let mut takes = Vec::new();
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let key = ident.to_string().trim_start_matches("r#").to_owned();
        let ty = &field.ty;
        let help = doc_text(&field.attrs);
        let p = param_attrs(&field.attrs)?;
        let positional = p.positional;
        let default = option_tokens(p.default.as_ref(), quote! { .to_owned() });
        let default_ref = option_tokens(p.default.as_ref(), quote! {});
        let short = option_tokens(p.short.as_ref(), quote! {});
        let value_name = option_tokens(p.value_name.as_ref(), quote! { .to_owned() });
        let has_default = p.default.is_some();
        specs.push(quote! {
            #cmd::ParamSpec {
                name: #key.to_owned(),
                kind: <#ty as #cmd::FromArg>::KIND,
                default: #default,
                help: #help.to_owned(),
                positional: #positional,
                repeatable: <#ty as #cmd::FromArg>::KIND == #cmd::ParamKind::List,
                required: <#ty as #cmd::FromArg>::REQUIRED && !#has_default,
                short: #short,
                value_name: #value_name,
                choices: <#ty as #cmd::FromArg>::CHOICES
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect(),
                long: ::core::option::Option::None,
                confirm: ::core::option::Option::None,
                answers_yes: false,
                one_of: ::core::option::Option::None,
            }
        });
        takes.push(quote! { #ident: args.take::<#ty>(#key, #default_ref)? });
    }
    let group = option_tokens(attrs.group.as_ref(), quote! { .to_owned() });
    let category = match &attrs.category {
        Some(c) => quote! { #c.to_owned() },
        None => quote! { "Plugins".to_owned() },
    };
    let examples = &attrs.examples;
    let aliases = &attrs.aliases;
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #cmd::Request for #ident #ty_generics #where_clause {
            fn spec() -> #cmd::CommandSpec {
                #cmd::CommandSpec {
                    name: #name.to_owned(),
                    group: #group,
                    category: #category,
                    about: #about.to_owned(),
                    examples: ::std::vec![#(#examples.to_owned()),*],
                    aliases: ::std::vec![#(#aliases.to_owned()),*],
                    hidden: false,
                    params: ::std::vec![#(#specs),*],
                }
            }

            fn from_args(
                args: #cmd::serde_json::Value,
            ) -> ::core::result::Result<Self, #cmd::ArgError> {
                let mut args = #cmd::Args::new(#name, args)?;
                let request = Self { #(#takes),* };
                args.ensure_consumed()?;
                ::core::result::Result::Ok(request)
            }
        }
    })
}
