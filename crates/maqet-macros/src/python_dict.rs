//! `#[derive(PythonDict)]`: a command's result struct as a Python `TypedDict`.
//!
//! Each field is a key under its serde name (`#[serde(rename = "..")]`); a field with
//! `skip_serializing_if` may be absent; a `#[serde(flatten)]` field's type is a base class;
//! `#[serde(skip)]` fields are left out. The type of each key comes from the field's Rust type
//! through `maqet_core::registry::PythonType`.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

/// What the `#[serde(..)]` attributes of one field say.
#[derive(Default)]
struct SerdeField {
    rename: Option<String>,
    flatten: bool,
    optional: bool,
    skip: bool,
}

fn serde_field(field: &syn::Field) -> syn::Result<SerdeField> {
    let mut out = SerdeField::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                out.rename = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("flatten") {
                out.flatten = true;
            } else if meta.path.is_ident("skip_serializing_if") {
                let _: LitStr = meta.value()?.parse()?;
                out.optional = true;
            } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
                out.skip = true;
            } else if meta.input.peek(syn::Token![=]) {
                // Another key with a value (`default = ".."`): not about the shape.
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// The first line of the doc comment.
fn doc_line(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .find_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }) => Some(text.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_default()
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(PythonDict)] is for a struct with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(PythonDict)] is for a struct with named fields",
        ));
    };
    let reg = quote!(::maqet_core::registry);
    let mut steps = Vec::new();
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let serde = serde_field(field)?;
        if serde.skip {
            continue;
        }
        let ty = &field.ty;
        if serde.flatten {
            steps.push(quote! {
                bases.push(<#ty as #reg::PythonType>::python_type(types));
            });
            continue;
        }
        let key = serde
            .rename
            .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_string());
        let optional = serde.optional;
        steps.push(quote! {
            keys.push(#reg::PythonKey {
                name: #key.to_string(),
                ty: <#ty as #reg::PythonType>::python_type(types),
                optional: #optional,
            });
        });
    }
    let ident = &input.ident;
    let name = ident.to_string();
    let doc = doc_line(&input.attrs);
    Ok(quote! {
        impl #reg::PythonType for #ident {
            fn python_type(types: &mut #reg::PythonTypes) -> ::std::string::String {
                if !types.knows(#name) {
                    types.start(#name);
                    let mut bases: ::std::vec::Vec<::std::string::String> = ::std::vec::Vec::new();
                    let mut keys: ::std::vec::Vec<#reg::PythonKey> = ::std::vec::Vec::new();
                    #(#steps)*
                    types.add(#reg::TypedDictClass {
                        name: #name.to_string(),
                        doc: #doc.to_string(),
                        bases,
                        keys,
                    });
                }
                #name.to_string()
            }
        }
    })
}
