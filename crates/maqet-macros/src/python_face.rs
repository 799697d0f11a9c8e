//! The `python_*` keys of `#[api_method]`: how the command appears in Python.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};

use crate::MethodAttrs;

/// The `PythonFace` of a command, checked against its parameter names.
pub(crate) fn tokens(
    attrs: &MethodAttrs,
    param_names: &[String],
    output: &syn::ReturnType,
    span: Span,
) -> syn::Result<TokenStream2> {
    let name = match &attrs.python_name {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let params = match &attrs.python_params {
        None => quote!(::core::option::Option::None),
        Some(list) => {
            let mut entries = Vec::new();
            for item in list {
                let (param, python_name, var_positional) = parse_param(item, span)?;
                if !param_names.contains(&param) {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "python_params names `{param}`, which is not a parameter of this method (it has {})",
                            param_names.join(", ")
                        ),
                    ));
                }
                entries.push(quote! {
                    ::maqet_core::registry::PythonParam {
                        param: #param,
                        python_name: #python_name,
                        var_positional: #var_positional,
                    }
                });
            }
            quote!(::core::option::Option::Some(&[#(#entries),*]))
        }
    };
    let returns = attrs.python_returns.as_deref().unwrap_or("json");
    if !RETURNS.contains(&returns) {
        return Err(syn::Error::new(
            span,
            format!(
                "unknown python_returns `{returns}`; expected one of {}",
                RETURNS.join(", ")
            ),
        ));
    }
    let variant = format_ident!("{}", camel_case(returns));
    let full_name = match &attrs.python_full {
        Some(full) if attrs.python_params.is_none() => {
            return Err(syn::Error::new(
                span,
                format!(
                    "python_full = \"{full}\" needs python_params: without them the method has every parameter already"
                ),
            ));
        }
        Some(full) if !identifier(full) => {
            return Err(syn::Error::new(
                span,
                format!("python_full `{full}` must be a snake_case identifier"),
            ));
        }
        Some(full) => quote!(::core::option::Option::Some(#full)),
        None => quote!(::core::option::Option::None),
    };
    // An object result is typed from the Rust type the method returns (`Result<T, _>`).
    let result = match (returns, ok_type(output)) {
        ("object" | "status_report", Some(ty)) => quote! {
            ::core::option::Option::Some(
                <#ty as ::maqet_core::registry::PythonType>::python_type
            )
        },
        _ => quote!(::core::option::Option::None),
    };
    Ok(quote! {
        ::maqet_core::registry::PythonFace {
            name: #name,
            params: #params,
            returns: ::maqet_core::registry::PythonReturn::#variant,
            full_name: #full_name,
            result: #result,
        }
    })
}

/// `T` of a method returning `Result<T, E>`.
fn ok_type(output: &syn::ReturnType) -> Option<&syn::Type> {
    let syn::ReturnType::Type(_, ty) = output else {
        return None;
    };
    let syn::Type::Path(path) = ty.as_ref() else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}

/// The snake_case names of `maqet_core::registry::PythonReturn`'s variants.
const RETURNS: &[&str] = &[
    "json",
    "object",
    "objects",
    "vm_id",
    "started_vm",
    "stopped_vm",
    "vm",
    "done",
    "text",
    "status_report",
    "snapshot",
];

/// `"vm as vm_id"` → (`vm`, `vm_id`, false); `"*keys"` → (`keys`, `keys`, true).
fn parse_param(item: &str, span: Span) -> syn::Result<(String, String, bool)> {
    let (var_positional, rest) = match item.trim().strip_prefix('*') {
        Some(rest) => (true, rest.trim()),
        None => (false, item.trim()),
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (param, python_name) = match words.as_slice() {
        [param] => (*param, *param),
        [param, "as", python_name] => (*param, *python_name),
        _ => {
            return Err(syn::Error::new(
                span,
                format!(
                    "python_params entry `{item}`: expected `param`, `param as name` or `*param`"
                ),
            ));
        }
    };
    if !identifier(param) || !identifier(python_name) {
        return Err(syn::Error::new(
            span,
            format!("python_params entry `{item}`: names must be snake_case identifiers"),
        ));
    }
    Ok((param.to_string(), python_name.to_string(), var_positional))
}

/// A snake_case Python identifier.
fn identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
