//! `#[derive(ConfigFields)]`: field names, types, defaults and docs of a config struct.

use crate::types::single_generic;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Attribute, Data, DeriveInput, Expr, ExprLit, Fields, Lit, LitStr, Meta, Type};

pub(crate) fn expand(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    let ident = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input,
            "ConfigFields needs a struct with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &input,
            "ConfigFields needs a struct with named fields",
        ));
    };
    let container_default = serde_attrs(&input.attrs)?.default.is_some();

    let mut entries = Vec::new();
    for field in &fields.named {
        let Some(field_ident) = &field.ident else {
            continue;
        };
        let serde = serde_attrs(&field.attrs)?;
        if serde.skip {
            continue;
        }
        let name = serde
            .rename
            .clone()
            .unwrap_or_else(|| field_ident.to_string().trim_start_matches("r#").to_owned());
        let ty = &field.ty;
        let rust_type = ty.to_token_stream().to_string().replace(' ', "");
        let (is_option, inner) = option_inner(ty);
        let kind = field_kind(inner);
        let doc = doc_text(&field.attrs);
        if doc.is_empty() {
            return Err(syn::Error::new_spanned(
                field_ident,
                "every config field needs a `///` comment: it is the user's documentation",
            ));
        }
        let secret = config_flag(&field.attrs, "secret")?;
        let field_default = serde.default;
        let default = match (&field_default, container_default, is_option) {
            (Some(Some(path)), _, _) => {
                let path: syn::ExprPath = syn::parse_str(path)?;
                quote! { ::core::option::Option::Some({
                    fn render() -> ::std::string::String { ::zenml_core::flavor::render_default(&#path()) }
                    render
                }) }
            }
            (_, _, true) => quote! { ::core::option::Option::None },
            (Some(None), _, false) => quote! { ::core::option::Option::Some({
                fn render() -> ::std::string::String {
                    ::zenml_core::flavor::render_default(&<#ty as ::core::default::Default>::default())
                }
                render
            }) },
            (None, true, false) => quote! { ::core::option::Option::Some({
                fn render() -> ::std::string::String {
                    ::zenml_core::flavor::render_default(&<#ident as ::core::default::Default>::default().#field_ident)
                }
                render
            }) },
            (None, false, false) => quote! { ::core::option::Option::None },
        };
        let required = field_default.is_none() && !container_default && !is_option;
        entries.push(quote! {
            ::zenml_core::ConfigField {
                name: #name,
                rust_type: #rust_type,
                kind: ::zenml_core::FieldKind::#kind,
                required: #required,
                default: #default,
                doc: #doc,
                secret: #secret,
            }
        });
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::zenml_core::ConfigFields for #ident #ty_generics #where_clause {
            const FIELDS: &'static [::zenml_core::ConfigField] = &[#(#entries),*];
        }
    })
}

fn doc_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
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
    lines.join(" ").trim().to_owned()
}

/// What `ConfigFields` needs from `#[serde(...)]` attributes.
#[derive(Default)]
struct SerdeAttrs {
    /// `Some(None)` for `#[serde(default)]`, `Some(Some(path))` for `default = "path"`.
    default: Option<Option<String>>,
    /// `rename = "…"`.
    rename: Option<String>,
    /// `skip` or `skip_deserializing`.
    skip: bool,
}

fn serde_attrs(attrs: &[Attribute]) -> syn::Result<SerdeAttrs> {
    let mut found = SerdeAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let has_value = meta.input.peek(syn::Token![=]);
            if meta.path.is_ident("default") {
                found.default = Some(if has_value {
                    Some(meta.value()?.parse::<LitStr>()?.value())
                } else {
                    None
                });
            } else if meta.path.is_ident("rename") && has_value {
                found.rename = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
                found.skip = true;
            } else if has_value {
                meta.value()?.parse::<Expr>()?;
            } else if meta.input.peek(syn::token::Paren) {
                meta.input.parse::<proc_macro2::Group>()?;
            }
            Ok(())
        })?;
    }
    Ok(found)
}

fn config_flag(attrs: &[Attribute], flag: &str) -> syn::Result<bool> {
    let mut found = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("config")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(flag) {
                found = true;
                Ok(())
            } else {
                Err(meta.error("expected `secret`"))
            }
        })?;
    }
    Ok(found)
}

fn option_inner(ty: &Type) -> (bool, &Type) {
    if let Some(arg) = single_generic(ty, "Option") {
        return (true, arg);
    }
    (false, ty)
}

fn field_kind(ty: &Type) -> proc_macro2::Ident {
    let name = match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let kind = match name.as_str() {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize"
        | "NonZeroUsize" | "NonZeroU32" | "NonZeroU64" => "Integer",
        "f32" | "f64" => "Float",
        "bool" => "Bool",
        "PathBuf" => "Path",
        "Vec" | "BTreeSet" | "HashSet" => "List",
        "BTreeMap" | "HashMap" | "Table" => "Table",
        _ => "String",
    };
    proc_macro2::Ident::new(kind, proc_macro2::Span::call_site())
}
