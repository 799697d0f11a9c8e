//! Typed requests and fluent builders for `#[api_method]`s.
//!
//! For a method `stop(&self, vm: String, force: bool, timeout: f64)` this generates:
//!
//! - `StopRequest`, a struct with one public field per parameter and `StopRequest::new(vm)`
//!   taking the required parameters (everything else gets its `default = ".."` or its type's
//!   default, `None`/empty/`false`); it implements `maqet_core::Request`, so
//!   `maqet.execute(request)` runs it;
//! - `StopBuilder`, made by the entry `Maqet::stop(&self, vm: impl Into<String>)`: it owns a
//!   clone of the handle and the request, has one chained setter per optional parameter,
//!   `.on_progress(..)`/`.on_line(..)` for the call's hooks, the blocking `.send()`, and
//!   `IntoFuture` (a `Send` [`CallFuture`](maqet_core::CallFuture)), so `.await` runs it too;
//! - the method as written, kept as the command's handler under a crate-private, doc-hidden
//!   name (`__stop`): the entry takes its public name, so `cargo doc` shows each command once.
//!
//! The request and builder types must be module-level items, which a method attribute cannot
//! emit, so they come from [`expand_impl`] (the `#[api_requests]` attribute on the `impl Maqet`
//! block); the entry method and the handler's name come from the `#[api_method]` hook
//! ([`entry_method`], [`handler_ident`]). Both read the parameters through [`params_of`], so
//! they agree.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, PathArguments, ReturnType,
    Signature, Type,
};

/// How a parameter's builder setter looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Required: an argument of the entry call and of `Request::new`.
    Required,
    /// `Option<T>`: the setter takes a `T`.
    Optional,
    /// `Vec<T>`: a push-one setter and a `<name>_list` set-all one.
    List,
    /// `KeyValues`: the setter takes one key and one value.
    Pairs,
    /// `ConfigOverrides`: a key/value setter, plus the typed `ConfigKeySetters`.
    ConfigKeys,
    /// Anything else with a default (`bool`, numbers): the setter takes the value.
    Value,
}

/// One parameter, as the builder sees it.
pub(crate) struct Param {
    pub ident: Ident,
    /// The type the handler takes.
    pub ty: Type,
    /// The type the request and the builder hold ([`request_type`]).
    pub field_ty: Type,
    /// The long option name, for messages about the value (`timeout`).
    pub long: String,
    pub shape: Shape,
    /// `#[arg(default = "..")]`.
    pub default: Option<String>,
    pub help: String,
    /// `#[arg(one_of)]`: an enum of flags, required as one value.
    pub one_of: bool,
}

/// Reads the parameters (and their `#[arg]` keys) of an `#[api_method]` signature.
pub(crate) fn params_of(sig: &Signature) -> syn::Result<Vec<Param>> {
    let mut params = Vec::new();
    for input in sig.inputs.iter().skip(1) {
        let FnArg::Typed(pat_type) = input else {
            continue;
        };
        let (written, attrs) = crate::param_of(pat_type)?;
        let name = written.to_string();
        let ident = Ident::new(name.trim_start_matches('_'), written.span());
        let ty = pat_type.ty.as_ref().clone();
        let shape = match (last_segment(&ty).as_deref(), &attrs.default) {
            (Some("Option"), _) => Shape::Optional,
            (Some("Vec"), _) => Shape::List,
            (Some("KeyValues"), _) => Shape::Pairs,
            (Some("ConfigOverrides"), _) => Shape::ConfigKeys,
            (Some("bool"), _) | (_, Some(_)) => Shape::Value,
            _ => Shape::Required,
        };
        let long = attrs
            .long
            .clone()
            .unwrap_or_else(|| ident.to_string().replace('_', "-"));
        params.push(Param {
            ident,
            field_ty: request_type(&ty),
            ty,
            long,
            shape: if attrs.one_of { Shape::Required } else { shape },
            default: attrs.default.clone(),
            help: attrs
                .help
                .clone()
                .unwrap_or_else(|| "Exactly one of the flags of this type".to_string()),
            one_of: attrs.one_of,
        });
    }
    Ok(params)
}

/// What a request holds for a handler parameter of type `ty`: the handler's type, except for
/// values read when the call is sent, which a builder takes in several forms (`Duration` →
/// `DurationArg`: seconds as a number, text like "2m", or a `Duration`; `ByteSize` →
/// `ByteSizeArg`: "4G" or bytes), also inside `Option`.
pub(crate) fn request_type(ty: &Type) -> Type {
    match last_segment(ty).as_deref() {
        Some("Duration") => syn::parse_quote!(::maqet_core::registry::DurationArg),
        Some("ByteSize") => syn::parse_quote!(::maqet_core::registry::ByteSizeArg),
        Some("Option") => {
            let inner: TokenStream2 = first_generic(ty);
            match syn::parse2::<Type>(inner) {
                Ok(inner) if request_type(&inner) != inner => {
                    let mapped = request_type(&inner);
                    syn::parse_quote!(::core::option::Option<#mapped>)
                }
                _ => ty.clone(),
            }
        }
        _ => ty.clone(),
    }
}

/// The crate-private name the written method keeps as the command's handler: `stop` →
/// `__stop` (the public `stop` is the builder's entry).
pub(crate) fn handler_ident(ident: &Ident) -> Ident {
    format_ident!("__{}", ident)
}

fn type_prefix(ident: &Ident) -> String {
    ident
        .to_string()
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

fn request_ident(ident: &Ident) -> Ident {
    format_ident!("{}Request", type_prefix(ident))
}

fn builder_ident(ident: &Ident) -> Ident {
    format_ident!("{}Builder", type_prefix(ident))
}

/// The entry method `Maqet::<name>(required..) -> <Name>Builder` for an `#[api_method]`
/// (called on the method as written, before it becomes the hidden handler).
pub(crate) fn entry_method(method: &ImplItemFn, params: &[Param]) -> TokenStream2 {
    let ident = &method.sig.ident;
    let vis = &method.vis;
    let builder = builder_ident(ident);
    let request = request_ident(ident);
    let required: Vec<&Param> = params
        .iter()
        .filter(|p| p.shape == Shape::Required)
        .collect();
    let args = required.iter().map(|p| argument(p));
    let names = required.iter().map(|p| &p.ident);
    let doc_first = format!(
        "Starts a [`{builder}`] for this command; chain setters for the optional parameters, \
         then `.send()` (blocking) or `.await` it. The typed request is [`{request}`]."
    );
    let docs = method.attrs.iter().filter(|a| a.path().is_ident("doc"));
    quote! {
        #(#docs)*
        ///
        #[doc = #doc_first]
        #vis fn #ident(&self, #(#args),*) -> #builder {
            #builder {
                maqet: ::core::clone::Clone::clone(self),
                request: #request::new(#(#names),*),
            }
        }
    }
}

/// The `#[api_requests]` attribute: the impl block unchanged, plus the request and builder
/// types of each `#[api_method]` in it.
pub(crate) fn expand_impl(item: ItemImpl) -> syn::Result<TokenStream2> {
    let mut generated = Vec::new();
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        if !method.attrs.iter().any(|a| a.path().is_ident("api_method")) {
            continue;
        }
        generated.push(request_types(method)?);
    }
    Ok(quote! {
        #item
        #(#generated)*
    })
}

/// The `T` of the method's `Result<T, MaqetError>`.
fn output_type(sig: &Signature) -> syn::Result<Type> {
    let fail = || {
        syn::Error::new(
            sig.output.span(),
            "api_method must return `Result<T, MaqetError>`",
        )
    };
    let ReturnType::Type(_, ty) = &sig.output else {
        return Err(fail());
    };
    let Type::Path(path) = ty.as_ref() else {
        return Err(fail());
    };
    let segment = path.path.segments.last().ok_or_else(fail)?;
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return Err(fail());
    };
    match args.args.first() {
        Some(GenericArgument::Type(t)) => Ok(t.clone()),
        _ => Err(fail()),
    }
}

fn request_types(method: &ImplItemFn) -> syn::Result<TokenStream2> {
    let ident = &method.sig.ident;
    let params = params_of(&method.sig)?;
    let output = output_type(&method.sig)?;
    let request = request_ident(ident);
    let builder = builder_ident(ident);
    let handler = handler_ident(ident);

    let fields = params.iter().map(|p| {
        let (id, ty) = (&p.ident, &p.field_ty);
        let doc = match &p.default {
            Some(d) => format!("{} (default: `{d}`)", p.help),
            None => p.help.clone(),
        };
        quote! { #[doc = #doc] pub #id: #ty, }
    });
    let required: Vec<&Param> = params
        .iter()
        .filter(|p| p.shape == Shape::Required)
        .collect();
    let new_args = required.iter().map(|p| argument(p));
    let mut inits = Vec::new();
    for p in &params {
        let id = &p.ident;
        let value = match (&p.shape, &p.default) {
            (Shape::Required, _) => quote!(#id.into()),
            // Read when the call is sent, like the same text from the command line.
            (Shape::Optional, Some(default)) if p.field_ty != p.ty => {
                quote!(::core::option::Option::Some(::core::convert::From::from(#default)))
            }
            (_, Some(default)) if p.field_ty != p.ty => {
                quote!(::core::convert::From::from(#default))
            }
            (_, Some(default)) => default_value(&p.ty, default)?,
            _ => quote!(::core::default::Default::default()),
        };
        inits.push(quote!(#id: #value,));
    }
    let checks = params.iter().filter(|p| !p.one_of).map(|p| {
        let ty = &p.ty;
        let required = p.shape == Shape::Required;
        let has_default = p.default.is_some();
        let message = format!(
            "parameter `{}`: the builder's idea of whether it is required disagrees with ArgType::REQUIRED",
            p.ident
        );
        quote! {
            const _: () = ::core::assert!(
                (<#ty as ::maqet_core::registry::ArgType>::REQUIRED && !#has_default) == #required,
                #message
            );
        }
    });
    let setters = params.iter().map(setter);
    let config_keys = params
        .iter()
        .find(|p| p.shape == Shape::ConfigKeys)
        .map(|p| {
            let id = &p.ident;
            quote! {
                impl ::maqet_core::ConfigKeySetters for #builder {
                    fn config_overrides(&mut self) -> &mut ::maqet_core::registry::ConfigOverrides {
                        &mut self.request.#id
                    }
                }
            }
        });
    let call_args = params.iter().map(|p| {
        let (id, ty, field_ty, long) = (&p.ident, &p.ty, &p.field_ty, &p.long);
        if ty == field_ty {
            quote!(self.#id)
        } else {
            quote!(<#field_ty as ::maqet_core::registry::Resolve<#ty>>::resolve(self.#id, #long)?)
        }
    });
    let request_doc = format!(
        "The arguments of [`Maqet::{ident}`], with their defaults; run it with \
         [`Maqet::execute`](crate::Maqet::execute)."
    );
    let new_doc = format!(
        "A request with the required arguments{}; every other field takes its default.",
        if required.is_empty() { " (none)" } else { "" }
    );
    let builder_doc = format!(
        "Builds a [`{request}`] and runs it with `.send()` (blocking) or `.await` (a `Send` \
         future); made by [`Maqet::{ident}`]."
    );
    let builder_name = builder.to_string();
    let default_impl = required.is_empty().then(|| {
        quote! {
            impl ::core::default::Default for #request {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    });
    Ok(quote! {
        #[doc = #request_doc]
        #[derive(Debug, Clone)]
        pub struct #request {
            #(#fields)*
        }

        impl #request {
            #[doc = #new_doc]
            pub fn new(#(#new_args),*) -> Self {
                Self { #(#inits)* }
            }
        }

        #default_impl

        #(#checks)*

        impl ::maqet_core::Request for #request {
            type Output = #output;
            fn send_to(self, maqet: &Maqet) -> ::core::result::Result<#output, ::maqet_core::MaqetError> {
                maqet.#handler(#(#call_args),*)
            }
        }

        #[doc = #builder_doc]
        #[must_use = "a builder does nothing until `.send()` or `.await`"]
        pub struct #builder {
            maqet: Maqet,
            request: #request,
        }

        impl #builder {
            #(#setters)*

            /// Sends this call's progress lines (what the CLI shows as a spinner) to `hook`.
            pub fn on_progress(
                mut self,
                hook: impl ::core::ops::Fn(&str) + ::core::marker::Send + ::core::marker::Sync + 'static,
            ) -> Self {
                let hooks = self.maqet.hooks().clone().on_progress(hook);
                *self.maqet.hooks_mut() = hooks;
                self
            }

            /// Streams this call's output lines (`events --follow`) to `hook`.
            pub fn on_line(
                mut self,
                hook: impl ::core::ops::Fn(&str) + ::core::marker::Send + ::core::marker::Sync + 'static,
            ) -> Self {
                let hooks = self.maqet.hooks().clone().on_line(hook);
                *self.maqet.hooks_mut() = hooks;
                self
            }

            /// Runs the command on this thread and returns its result. In async code,
            /// `.await` the builder instead.
            pub fn send(self) -> ::core::result::Result<#output, ::maqet_core::MaqetError> {
                let #builder { maqet, request } = self;
                ::maqet_core::run_blocking(move || ::maqet_core::Request::send_to(request, &maqet))
            }

            /// The request built so far, to run later with `Maqet::execute`.
            pub fn into_request(self) -> #request {
                self.request
            }
        }

        impl ::core::future::IntoFuture for #builder {
            type Output = ::core::result::Result<#output, ::maqet_core::MaqetError>;
            type IntoFuture = ::maqet_core::CallFuture<#output>;
            /// Runs the command on tokio's blocking pool when first polled.
            fn into_future(self) -> Self::IntoFuture {
                let #builder { maqet, request } = self;
                ::maqet_core::CallFuture::new(move || ::maqet_core::Request::send_to(request, &maqet))
            }
        }

        impl ::core::fmt::Debug for #builder {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#builder_name).field("request", &self.request).finish()
            }
        }

        #config_keys
    })
}

/// A required parameter as an argument of the entry call and of `Request::new`.
fn argument(p: &Param) -> TokenStream2 {
    let (id, ty) = (&p.ident, &p.field_ty);
    if is_integer(ty) {
        quote!(#id: #ty)
    } else {
        quote!(#id: impl ::core::convert::Into<#ty>)
    }
}

fn setter(p: &Param) -> TokenStream2 {
    let id = &p.ident;
    let ty = &p.field_ty;
    let doc = &p.help;
    match p.shape {
        Shape::Required => quote!(),
        Shape::Optional => {
            let inner = first_generic(ty);
            quote! {
                #[doc = #doc]
                pub fn #id(mut self, value: impl ::core::convert::Into<#inner>) -> Self {
                    self.request.#id = ::core::option::Option::Some(value.into());
                    self
                }
            }
        }
        Shape::List => {
            let inner = first_generic(ty);
            let all = format_ident!("{}_list", id);
            let all_doc = format!("{doc} (replaces the whole list)");
            quote! {
                #[doc = #doc]
                pub fn #id(mut self, value: impl ::core::convert::Into<#inner>) -> Self {
                    self.request.#id.push(value.into());
                    self
                }
                #[doc = #all_doc]
                pub fn #all<V: ::core::convert::Into<#inner>>(
                    mut self,
                    values: impl ::core::iter::IntoIterator<Item = V>,
                ) -> Self {
                    self.request.#id = values.into_iter().map(::core::convert::Into::into).collect();
                    self
                }
            }
        }
        Shape::Pairs | Shape::ConfigKeys => quote! {
            #[doc = #doc]
            pub fn #id(
                mut self,
                key: impl ::core::convert::Into<::std::string::String>,
                value: impl ::core::convert::Into<::maqet_core::serde_json::Value>,
            ) -> Self {
                self.request.#id.0.insert(key.into(), value.into());
                self
            }
        },
        // Integers take their own type, so a literal (`.hold_time(200)`) infers to it;
        // `impl Into<u32>` would make it an `i32`, which does not convert.
        Shape::Value if is_integer(ty) => quote! {
            #[doc = #doc]
            pub fn #id(mut self, value: #ty) -> Self {
                self.request.#id = value;
                self
            }
        },
        Shape::Value => quote! {
            #[doc = #doc]
            pub fn #id(mut self, value: impl ::core::convert::Into<#ty>) -> Self {
                self.request.#id = value.into();
                self
            }
        },
    }
}

const INTEGERS: &[&str] = &[
    "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
];

fn is_integer(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|name| INTEGERS.contains(&name.as_str()))
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn first_generic(ty: &Type) -> TokenStream2 {
    if let Type::Path(p) = ty
        && let Some(segment) = p.path.segments.last()
        && let PathArguments::AngleBracketed(args) = &segment.arguments
        && let Some(GenericArgument::Type(inner)) = args.args.first()
    {
        return quote!(#inner);
    }
    quote!(#ty)
}

/// A Rust expression for a `default = ".."` of type `ty`, checked now, so a default that does
/// not parse is a compile error instead of a runtime one.
fn default_value(ty: &Type, default: &str) -> syn::Result<TokenStream2> {
    let bad = |what: &str| {
        syn::Error::new(
            ty.span(),
            format!("default `{default}` is not a valid {what}"),
        )
    };
    let name = last_segment(ty).unwrap_or_default();
    let expr = match name.as_str() {
        "Option" => {
            let Type::Path(p) = ty else {
                return Err(bad("Option"));
            };
            let inner = match p.path.segments.last().map(|s| &s.arguments) {
                Some(PathArguments::AngleBracketed(args)) => match args.args.first() {
                    Some(GenericArgument::Type(inner)) => inner.clone(),
                    _ => return Err(bad("Option")),
                },
                _ => return Err(bad("Option")),
            };
            let inner = default_value(&inner, default)?;
            quote!(::core::option::Option::Some(#inner))
        }
        "String" => quote!(::std::string::String::from(#default)),
        "PathBuf" => quote!(::std::path::PathBuf::from(#default)),
        "bool" => {
            let b: bool = default.parse().map_err(|_| bad("bool"))?;
            quote!(#b)
        }
        "f64" | "f32" => {
            let v: f64 = default.trim().parse().map_err(|_| bad(&name))?;
            let lit = proc_macro2::Literal::f64_unsuffixed(v);
            quote!(#lit)
        }
        integer if INTEGERS.contains(&integer) => {
            let v: i128 = default.trim().parse().map_err(|_| bad(&name))?;
            let lit = proc_macro2::Literal::i128_unsuffixed(v);
            quote!(#lit)
        }
        // Other types (enums with choices, ...): parsed at run time the way the registry
        // parses the same text for the CLI, so a default the CLI accepts works here too.
        _ => {
            let message = format!("the declared default `{default}` does not parse: {{}}");
            quote! {
                match <#ty as ::maqet_core::registry::ArgType>::from_json(
                    "default",
                    "default",
                    ::maqet_core::serde_json::Value::String(::std::string::String::from(#default)),
                ) {
                    ::core::result::Result::Ok(value) => value,
                    // A declared constant, also used by every CLI call: a bug, not user input.
                    ::core::result::Result::Err(err) => ::core::panic!(#message, err),
                }
            }
        }
    };
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method() -> ImplItemFn {
        syn::parse_quote! {
            #[api_method(category = "test")]
            pub fn take_nap(
                &self,
                #[arg(positional, help = "VM name or id")] vm: String,
                #[arg(help = "Skip the graceful part")] force: bool,
                #[arg(help = "Seconds", default = "30")] timeout: f64,
                #[arg(help = "Times", default = "3")] times: u32,
                #[arg(help = "Label")] label: Option<String>,
                #[arg(positional, help = "Files")] files: Vec<PathBuf>,
                #[arg(help = "Config keys")] set: ConfigOverrides,
            ) -> Result<NapReport, MaqetError> {
                unimplemented!()
            }
        }
    }

    fn compact(tokens: TokenStream2) -> String {
        tokens
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn shapes_follow_type_and_default() {
        let params = params_of(&method().sig).unwrap();
        let shapes: Vec<(String, Shape)> = params
            .iter()
            .map(|p| (p.ident.to_string(), p.shape))
            .collect();
        assert_eq!(
            shapes,
            vec![
                ("vm".into(), Shape::Required),
                ("force".into(), Shape::Value),
                ("timeout".into(), Shape::Value),
                ("times".into(), Shape::Value),
                ("label".into(), Shape::Optional),
                ("files".into(), Shape::List),
                ("set".into(), Shape::ConfigKeys),
            ]
        );
    }

    #[test]
    fn request_new_takes_required_and_fills_defaults() {
        let out = compact(request_types(&method()).unwrap());
        assert!(out.contains("pub struct TakeNapRequest"), "{out}");
        assert!(
            out.contains(
                "pub fn new (vm : impl :: core :: convert :: Into < String >) -> Self { Self { vm : vm . into () , force : :: core :: default :: Default :: default () , timeout : 30.0 , times : 3 ,"
            ),
            "{out}"
        );
        assert!(out.contains("pub struct TakeNapBuilder {"), "{out}");
        assert!(
            out.contains("impl :: core :: future :: IntoFuture for TakeNapBuilder"),
            "{out}"
        );
        assert!(out.contains("type Output = NapReport"), "{out}");
        assert!(out.contains("maqet . __take_nap (self . vm , self . force , self . timeout , self . times , self . label , self . files , self . set)"), "{out}");
        assert!(out.contains("pub fn files_list"), "{out}");
        assert!(
            out.contains("impl :: maqet_core :: ConfigKeySetters for TakeNapBuilder"),
            "{out}"
        );
    }

    #[test]
    fn entry_takes_only_required_parameters() {
        let m = method();
        let params = params_of(&m.sig).unwrap();
        let out = compact(entry_method(&m, &params));
        assert!(
            out.contains("pub fn take_nap (& self , vm : impl :: core :: convert :: Into < String >) -> TakeNapBuilder {"),
            "{out}"
        );
        assert_eq!(handler_ident(&m.sig.ident).to_string(), "__take_nap");
    }

    #[test]
    fn a_default_that_does_not_parse_is_a_compile_error() {
        let ty: Type = syn::parse_quote!(u32);
        let err = default_value(&ty, "soon").unwrap_err();
        assert_eq!(err.to_string(), "default `soon` is not a valid u32");
        let ty: Type = syn::parse_quote!(Option<f64>);
        assert_eq!(
            compact(default_value(&ty, "2.5").unwrap()),
            ":: core :: option :: Option :: Some (2.5)"
        );
    }

    #[test]
    fn a_default_of_another_type_parses_through_arg_type() {
        let ty: Type = syn::parse_quote!(ShutdownVia);
        let out = compact(default_value(&ty, "acpi").unwrap());
        assert!(
            out.contains("< ShutdownVia as :: maqet_core :: registry :: ArgType > :: from_json"),
            "{out}"
        );
        assert!(out.contains("String :: from (\"acpi\")"), "{out}");
    }
}
