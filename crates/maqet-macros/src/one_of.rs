//! `#[derive(OneOf)]`: a command parameter that is exactly one of several flags, declared as
//! an enum (`wait`'s `--serial REGEX | --state STATE | --agent | ...`).
//!
//! Each variant is one flag: a unit variant is a flag without value (`Agent` → `--agent`), a
//! variant with one field takes a value of that field's type (`Serial(String)` →
//! `--serial <REGEX>`), read like any parameter of that type. The flag is the variant's name
//! in kebab-case unless `#[arg(long = "..")]` says otherwise; `#[arg(help = "..")]` is
//! required, `value_name` is optional. The command takes the enum as one parameter marked
//! `#[arg(one_of)]`: its flags appear in the registry (and so on the command line, in the docs
//! and in Python) at that place, form one clap `ArgGroup`, and a call that gives none or
//! several is refused with a message listing them. Adding a condition is adding a variant.
//!
//! ```ignore
//! #[derive(Debug, Clone, OneOf)]
//! pub enum WaitCondition {
//!     #[arg(help = "Regular expression to find in the serial console output", value_name = "REGEX")]
//!     Serial(String),
//!     #[arg(help = "Wait until the guest agent answers")]
//!     Agent,
//! }
//! ```

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

/// Expands `#[derive(OneOf)]`.
pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream2> {
    let ident = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.span(),
            "OneOf is derived for an enum: one variant per flag",
        ));
    };
    let group = kebab(&ident.to_string());
    let mut specs = Vec::new();
    let mut takes = Vec::new();
    let mut flags = Vec::new();
    for variant in &data.variants {
        let mut attrs = crate::ParamAttrs::default();
        for attr in &variant.attrs {
            if attr.path().is_ident("arg") {
                crate::parse_param_attr(attr, &mut attrs)?;
            }
        }
        let name_text = kebab(&variant.ident.to_string());
        let long = attrs.long.clone().unwrap_or_else(|| name_text.clone());
        let name = long.replace('-', "_");
        let help = attrs.help.clone().ok_or_else(|| {
            syn::Error::new(
                variant.ident.span(),
                format!("variant `{}` needs #[arg(help = \"..\")]", variant.ident),
            )
        })?;
        if attrs.positional || attrs.default.is_some() || attrs.confirm.is_some() {
            return Err(syn::Error::new(
                variant.ident.span(),
                "a OneOf variant is a flag: positional, default and confirm do not apply",
            ));
        }
        let value_name = crate::opt_str(&attrs.value_name);
        let short = match attrs.short {
            Some(c) => quote!(::core::option::Option::Some(#c)),
            None => quote!(::core::option::Option::None),
        };
        let var = &variant.ident;
        flags.push(match &variant.fields {
            Fields::Unit => quote!(Self::#var => #long),
            _ => quote!(Self::#var(..) => #long),
        });
        let (value_ty, take) = match &variant.fields {
            Fields::Unit => (
                quote!(bool),
                quote! {
                    if args.take::<bool>(#name, ::core::option::Option::None)? {
                        chosen.push(Self::#var);
                    }
                },
            ),
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                let ty = &fields.unnamed[0].ty;
                (
                    quote!(#ty),
                    quote! {
                        if let ::core::option::Option::Some(value) =
                            args.take::<::core::option::Option<#ty>>(#name, ::core::option::Option::None)?
                        {
                            chosen.push(Self::#var(value));
                        }
                    },
                )
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "a OneOf variant is a unit (a flag) or has exactly one field (its value)",
                ));
            }
        };
        specs.push(quote! {
            ::maqet_core::registry::ParamSpec {
                name: #name,
                long: #long,
                short: #short,
                kind: <#value_ty as ::maqet_core::registry::ArgType>::KIND,
                item_kind: <#value_ty as ::maqet_core::registry::ArgType>::ITEM_KIND,
                required: false,
                positional: false,
                help: #help,
                default: ::core::option::Option::None,
                value_name: #value_name,
                possible_values: <#value_ty as ::maqet_core::registry::ArgType>::CHOICES,
                confirm: ::core::option::Option::None,
                answers_yes: false,
                one_of: ::core::option::Option::Some(#group),
            }
        });
        takes.push(take);
    }
    if specs.is_empty() {
        return Err(syn::Error::new(
            input.span(),
            "OneOf needs at least one variant",
        ));
    }
    Ok(quote! {
        impl ::maqet_core::registry::OneOf for #ident {
            const PARAMS: &'static [::maqet_core::registry::ParamSpec] = &[#(#specs),*];

            fn flag(&self) -> &'static str {
                match self {
                    #(#flags,)*
                }
            }

            fn take_from(
                args: &mut ::maqet_core::registry::Args,
            ) -> ::core::result::Result<Self, ::maqet_core::MaqetError> {
                let mut chosen = ::std::vec::Vec::new();
                #(#takes)*
                ::maqet_core::registry::exactly_one::<Self>(chosen)
            }
        }
    })
}

fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_become_flags_of_one_group() {
        let input: DeriveInput = syn::parse_quote! {
            enum WaitCondition {
                #[arg(help = "Regex", value_name = "REGEX")]
                Serial(String),
                #[arg(help = "Agent answers")]
                Agent,
                #[arg(help = "Text on screen", long = "screen-text")]
                ScreenText(String),
            }
        };
        let out = expand(input).unwrap().to_string();
        assert!(out.contains("name : \"serial\""), "{out}");
        assert!(out.contains("long : \"screen-text\""), "{out}");
        assert!(out.contains("name : \"screen_text\""), "{out}");
        assert!(out.contains("Some (\"wait-condition\")"), "{out}");
        assert!(out.contains("chosen . push (Self :: Agent)"), "{out}");
        assert_eq!(kebab("ScreenStill"), "screen-still");
    }

    #[test]
    fn a_variant_with_two_fields_is_refused() {
        let input: DeriveInput = syn::parse_quote! {
            enum Bad { #[arg(help = "x")] Two(u32, u32) }
        };
        assert!(expand(input).is_err());
    }
}
