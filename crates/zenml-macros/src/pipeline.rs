//! `#[pipeline]`: a function whose body calls steps becomes a pipeline constructor.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let function: ItemFn = syn::parse2(item)?;
    let mut name = function.sig.ident.to_string();
    let mut enable_cache = quote!(::core::option::Option::None);
    for arg in &args {
        match (
            &arg.value,
            arg.path.get_ident().map(|i| i.to_string()).as_deref(),
        ) {
            (
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }),
                Some("name"),
            ) => name = s.value(),
            (
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(b), ..
                }),
                Some("enable_cache"),
            ) => {
                let b = b.value;
                enable_cache = quote!(::core::option::Option::Some(#b));
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    arg,
                    "expected `name = \"…\"` or `enable_cache = true|false`",
                ));
            }
        }
    }
    if !function.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &function.sig.inputs,
            "a pipeline takes no arguments: give steps their parameters inside it, and override them from a run configuration",
        ));
    }
    let attrs = &function.attrs;
    let vis = &function.vis;
    let ident = &function.sig.ident;
    let body = &function.block;
    Ok(quote! {
        #(#attrs)*
        #vis fn #ident() -> ::zenml::pipeline::Pipeline {
            ::zenml::pipeline::Pipeline::build(#name, #enable_cache, || #body)
        }
    })
}
