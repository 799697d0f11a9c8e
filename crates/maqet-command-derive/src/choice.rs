//! `#[derive(Choice)]`: an enum of unit variants as a closed set of names.

use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

/// `NetBackend` → `net-backend`.
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

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Choice)] is for an enum of unit variants",
        ));
    };
    let mut variants = Vec::new();
    let mut names = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                variant,
                "#[derive(Choice)]: every variant must be a unit variant",
            ));
        }
        let mut name = kebab(&variant.ident.to_string());
        for attr in variant.attrs.iter().filter(|a| a.path().is_ident("choice")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    name = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error("unknown `choice` key; use name"))
                }
            })?;
        }
        variants.push(&variant.ident);
        names.push(name);
    }
    let ident = &input.ident;
    let cmd = quote! { ::maqet_plugin_api::command };
    Ok(quote! {
        impl #cmd::Choice for #ident {
            const CHOICES: &'static [&'static str] = &[#(#names),*];
            fn from_choice(name: &str) -> ::core::option::Option<Self> {
                match name {
                    #(#names => ::core::option::Option::Some(#ident::#variants),)*
                    _ => ::core::option::Option::None,
                }
            }
            fn choice_name(self) -> &'static str {
                match self {
                    #(#ident::#variants => #names,)*
                }
            }
        }

        impl #cmd::FromArg for #ident {
            const KIND: #cmd::ParamKind = #cmd::ParamKind::String;
            const REQUIRED: bool = true;
            const CHOICES: &'static [&'static str] = <#ident as #cmd::Choice>::CHOICES;
            fn from_json(
                command: &str,
                name: &str,
                value: #cmd::serde_json::Value,
            ) -> ::core::result::Result<Self, #cmd::ArgError> {
                #cmd::choice_from_json(command, name, value)
            }
        }
    })
}
