//! `#[flavor(...)]`: one declaration gives the typetag name and the registry entry.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemImpl, Lit, LitStr, MetaNameValue, Token};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let mut name = None;
    let mut description = None;
    let mut example = None;
    let mut schemes: Vec<LitStr> = Vec::new();
    for arg in &args {
        if arg.path.is_ident("schemes") {
            schemes = string_list(&arg.value)?;
            for scheme in &schemes {
                let text = scheme.value();
                let valid = text.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && text
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
                if !valid {
                    return Err(syn::Error::new_spanned(
                        scheme,
                        "a URI scheme is a lowercase letter followed by lowercase letters, \
                         digits, `+`, `-` or `.` (e.g. `s3`), without `://`",
                    ));
                }
            }
            continue;
        }
        let value = string_value(&arg.value)?;
        let slot = if arg.path.is_ident("name") {
            &mut name
        } else if arg.path.is_ident("description") {
            &mut description
        } else if arg.path.is_ident("example") {
            &mut example
        } else {
            return Err(syn::Error::new_spanned(
                &arg.path,
                "expected `name`, `description`, `example` or `schemes`",
            ));
        };
        *slot = Some(value);
    }
    let span = proc_macro2::Span::call_site();
    let name = name.ok_or_else(|| syn::Error::new(span, "missing `name = \"…\"`"))?;
    let description =
        description.ok_or_else(|| syn::Error::new(span, "missing `description = \"…\"`"))?;
    let example = example.ok_or_else(|| syn::Error::new(span, "missing `example = \"…\"`"))?;
    if description.value().contains('\n') || description.value().trim().is_empty() {
        return Err(syn::Error::new_spanned(
            &description,
            "a flavor's description is one non-empty line",
        ));
    }
    let flavor_name = name.value();
    if flavor_name.is_empty()
        || !flavor_name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
    {
        return Err(syn::Error::new_spanned(
            &name,
            "a flavor name uses lowercase letters, digits, `_`, `-` and `.` (e.g. `vendor.store`)",
        ));
    }

    let item: ItemImpl = syn::parse2(item)?;
    let Some((_, trait_path, _)) = &item.trait_ else {
        return Err(syn::Error::new_spanned(
            &item,
            "#[flavor] goes on `impl <KindFlavorTrait> for <ConfigType>`",
        ));
    };
    let config_ty = &item.self_ty;

    Ok(quote! {
        #[::typetag::serde(name = #name)]
        #item

        ::zenml_core::__private::inventory::submit! {
            ::zenml_core::FlavorDescription {
                kind: <dyn #trait_path as ::zenml_core::FlavorKind>::KIND,
                name: #name,
                description: #description,
                source: ::core::env!("CARGO_PKG_NAME"),
                example: #example,
                fields: <#config_ty as ::zenml_core::ConfigFields>::FIELDS,
                schemes: &[#(#schemes),*],
                check: {
                    fn check(
                        table: &::zenml_core::__private::toml::Table,
                    ) -> ::core::result::Result<(), ::zenml_core::ConfigError> {
                        ::zenml_core::flavor::check_table::<#config_ty>(
                            <dyn #trait_path as ::zenml_core::FlavorKind>::KIND,
                            #name,
                            table,
                        )
                    }
                    check
                },
            }
        }
    })
}

fn string_value(expr: &Expr) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
    }
}

fn string_list(expr: &Expr) -> syn::Result<Vec<LitStr>> {
    match expr {
        Expr::Array(array) => array.elems.iter().map(string_value).collect(),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a list of string literals, e.g. `schemes = [\"s3\"]`",
        )),
    }
}
