//! Procedural macros of zenml-rs.
//!
//! - `#[flavor(name = …, description = …, example = …)]` declares a flavor once: typetag name
//!   and registry description from one attribute (see `zenml_core::flavor`).
//! - `#[derive(ConfigFields)]` describes a flavor's config struct for `flavor describe` and
//!   for checking user input (see `zenml_core::ConfigFields`).
//!
//! - `#[step]` turns a function into a pipeline step; `#[pipeline]` turns a function that
//!   calls steps into a pipeline constructor (see the facade crate `zenml`).
//!
//! Generated code names `::zenml_core` and `::typetag`, so a crate that uses these macros
//! depends on both directly. Use them through `zenml_core`, which re-exports them.

mod config_fields;
mod flavor;
mod pipeline;
mod step;
mod types;

use proc_macro::TokenStream;

/// Declares a flavor; documented at its re-export, `zenml_core::flavor`.
#[proc_macro_attribute]
pub fn flavor(args: TokenStream, item: TokenStream) -> TokenStream {
    flavor::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Describes a config struct's fields; documented at its re-export,
/// `zenml_core::ConfigFields`.
#[proc_macro_derive(ConfigFields, attributes(config))]
pub fn derive_config_fields(item: TokenStream) -> TokenStream {
    config_fields::expand(item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function into a pipeline step; documented at its re-export, `zenml::step`.
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    step::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns a function that calls steps into a pipeline constructor; documented at its
/// re-export, `zenml::pipeline`.
#[proc_macro_attribute]
pub fn pipeline(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
