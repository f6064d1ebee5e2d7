//! `#[step]`: a Rust function becomes a pipeline step.
//!
//! The function keeps its body (moved into a nested function) and its name becomes a
//! builder: called inside a `#[pipeline]`, it declares the step and returns typed handles to
//! its outputs. Arguments are classified by type:
//!
//! - `Param<T>`: a parameter; the builder takes a `T` (the default in code);
//! - `&StepContext`: the step's context; the builder does not take it;
//! - `Collected<T>`: a collected input; the builder takes a `Vec<Output<T>>`, and the step
//!   gets the values of all those outputs, in order;
//! - anything else, `T`: an input artifact; the builder takes an `Output<T>`.

use crate::types::single_generic;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, FnArg, Ident, ItemFn, Lit, LitStr, Meta, Pat, ReturnType, Token, Type};

struct StepArgs {
    outputs: Option<Vec<OutputArg>>,
    version: Option<LitStr>,
    enable_cache: Option<bool>,
    materializers: Vec<(Ident, syn::Path)>,
    resources: Option<Resources>,
    retries: Option<u32>,
}

/// One output of `outputs(…)`: a name, or a name with options,
/// `model(name = "iris-classifier", tags("iris", "tree"), statistics = false)`.
struct OutputArg {
    ident: Ident,
    artifact_name: Option<LitStr>,
    tags: Vec<LitStr>,
    statistics: Option<bool>,
}

impl OutputArg {
    fn has_options(&self) -> bool {
        self.artifact_name.is_some() || !self.tags.is_empty() || self.statistics.is_some()
    }
}

/// Whether `text` is a valid artifact name or tag: what `zenml_core::Name` accepts (an
/// ASCII letter or digit, then letters, digits, `_`, `-` and `.`, at most 64 characters).
fn check_label(lit: &LitStr, what: &str) -> syn::Result<()> {
    let text = lit.value();
    let mut chars = text.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && text.len() <= 64;
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new_spanned(
            lit,
            format!(
                "{what} `{text}` is not valid: it starts with an ASCII letter or digit and holds letters, digits, `_`, `-` and `.`, at most 64 characters"
            ),
        ))
    }
}

fn parse_output(meta: Meta) -> syn::Result<OutputArg> {
    let list = match meta {
        Meta::Path(path) => {
            let ident = path
                .get_ident()
                .cloned()
                .ok_or_else(|| syn::Error::new_spanned(&path, "expected an output name"))?;
            return Ok(OutputArg {
                ident,
                artifact_name: None,
                tags: Vec::new(),
                statistics: None,
            });
        }
        Meta::List(list) => list,
        Meta::NameValue(nv) => {
            return Err(syn::Error::new_spanned(
                nv,
                "expected an output name, or a name with options: `model(name = \"…\", tags(\"…\"), statistics = false)`",
            ));
        }
    };
    let ident = list
        .path
        .get_ident()
        .cloned()
        .ok_or_else(|| syn::Error::new_spanned(&list.path, "expected an output name"))?;
    let mut output = OutputArg {
        ident,
        artifact_name: None,
        tags: Vec::new(),
        statistics: None,
    };
    let options = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(list.tokens.clone())?;
    for option in options {
        match option {
            Meta::NameValue(nv) if nv.path.is_ident("name") => match nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => {
                    check_label(&s, "the artifact name")?;
                    output.artifact_name = Some(s);
                }
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected a string, e.g. name = \"iris-classifier\"",
                    ));
                }
            },
            Meta::NameValue(nv) if nv.path.is_ident("statistics") => match nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(b), ..
                }) => output.statistics = Some(b.value),
                other => return Err(syn::Error::new_spanned(other, "expected true or false")),
            },
            Meta::List(tags) if tags.path.is_ident("tags") => {
                let tags = Punctuated::<LitStr, Token![,]>::parse_terminated.parse2(tags.tokens)?;
                for tag in tags {
                    check_label(&tag, "the tag")?;
                    output.tags.push(tag);
                }
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "expected `name = \"…\"`, `tags(\"…\", …)` or `statistics = false`",
                ));
            }
        }
    }
    Ok(output)
}

/// `resources(cpus = 4, memory = "16G", gpus = 1)`, each key optional.
#[derive(Default)]
struct Resources {
    cpus: Option<u32>,
    memory: Option<LitStr>,
    gpus: Option<u32>,
}

fn parse_resources(tokens: TokenStream) -> syn::Result<Resources> {
    let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut resources = Resources::default();
    for pair in pairs {
        let count = |what: &str| -> syn::Result<u32> {
            match &pair.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(n), ..
                }) => n.base10_parse(),
                other => Err(syn::Error::new_spanned(
                    other,
                    format!("expected a whole number of {what}, e.g. {what} = 2"),
                )),
            }
        };
        if pair.path.is_ident("cpus") {
            resources.cpus = Some(count("cpus")?);
        } else if pair.path.is_ident("gpus") {
            resources.gpus = Some(count("gpus")?);
        } else if pair.path.is_ident("memory") {
            match &pair.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => resources.memory = Some(s.clone()),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected a string, e.g. memory = \"16G\"",
                    ));
                }
            }
        } else {
            return Err(syn::Error::new_spanned(
                &pair.path,
                "expected `cpus = N`, `memory = \"16G\"` or `gpus = N`",
            ));
        }
    }
    Ok(resources)
}

fn parse_args(args: TokenStream) -> syn::Result<StepArgs> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut parsed = StepArgs {
        outputs: None,
        version: None,
        enable_cache: None,
        materializers: Vec::new(),
        resources: None,
        retries: None,
    };
    for meta in metas {
        match &meta {
            Meta::List(list) if list.path.is_ident("outputs") => {
                let outputs =
                    Punctuated::<Meta, Token![,]>::parse_terminated.parse2(list.tokens.clone())?;
                parsed.outputs = Some(
                    outputs
                        .into_iter()
                        .map(parse_output)
                        .collect::<syn::Result<_>>()?,
                );
            }
            Meta::List(list) if list.path.is_ident("resources") => {
                parsed.resources = Some(parse_resources(list.tokens.clone())?);
            }
            Meta::List(list) if list.path.is_ident("materializers") => {
                let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated
                    .parse2(list.tokens.clone())?;
                for pair in pairs {
                    let name = pair.path.get_ident().cloned().ok_or_else(|| {
                        syn::Error::new_spanned(&pair.path, "expected an input or output name")
                    })?;
                    let Expr::Path(path) = pair.value else {
                        return Err(syn::Error::new_spanned(
                            pair.value,
                            "expected a materializer type",
                        ));
                    };
                    parsed.materializers.push((name, path.path));
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("version") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => parsed.version = Some(s.clone()),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected a string, e.g. version = \"2\"",
                    ));
                }
            },
            Meta::NameValue(nv) if nv.path.is_ident("retries") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(n), ..
                }) => parsed.retries = Some(n.base10_parse()?),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected a whole number, e.g. retries = 2",
                    ));
                }
            },
            Meta::NameValue(nv) if nv.path.is_ident("enable_cache") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(b), ..
                }) => parsed.enable_cache = Some(b.value),
                other => return Err(syn::Error::new_spanned(other, "expected true or false")),
            },
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "expected `outputs(a, b)`, `version = \"…\"`, `enable_cache = bool`, `retries = N`, `materializers(name = Type)` or `resources(cpus = N, memory = \"16G\", gpus = N)`",
                ));
            }
        }
    }
    Ok(parsed)
}

enum ArgKind {
    Context,
    Param(Type),
    Input(Type),
    Collected(Type),
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args)?;
    let function: ItemFn = syn::parse2(item)?;
    // The code hash covers the signature and the body: not the visibility, the doc comments
    // or the `#[step(…)]` options, whose edits do not change what the step computes.
    let code = {
        let (sig, block) = (&function.sig, &function.block);
        let mut walked = String::new();
        walk_tokens(quote!(#sig #block), &mut walked);
        walked
    };
    let sig = &function.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a step cannot be generic",
        ));
    }
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            a,
            "a step is an ordinary (blocking) function",
        ));
    }
    let name = &sig.ident;
    let name_str = name.to_string();
    let vis = &function.vis;
    let docs: Vec<_> = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let body_ident = format_ident!("__zenml_step_body");
    let original_inputs = &sig.inputs;
    let original_output = &sig.output;
    let body = &function.block;

    // Classify the arguments.
    let mut arg_kinds = Vec::new();
    for input in &sig.inputs {
        let FnArg::Typed(typed) = input else {
            return Err(syn::Error::new_spanned(
                input,
                "a step is a free function, not a method",
            ));
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(syn::Error::new_spanned(
                &typed.pat,
                "step arguments are plain names",
            ));
        };
        let kind = if is_context(&typed.ty) {
            ArgKind::Context
        } else if let Some(inner) = single_generic(&typed.ty, "Param") {
            ArgKind::Param(inner.clone())
        } else if let Some(inner) = single_generic(&typed.ty, "Collected") {
            ArgKind::Collected(inner.clone())
        } else {
            ArgKind::Input((*typed.ty).clone())
        };
        arg_kinds.push((pat.ident.clone(), kind));
    }

    // The outputs.
    let (value_ty, is_result) = match &sig.output {
        ReturnType::Default => (None, false),
        ReturnType::Type(_, ty) => match single_generic(ty, "Result") {
            Some(inner) => (Some(inner.clone()), true),
            None => (Some((**ty).clone()), false),
        },
    };
    let value_ty = value_ty.filter(|t| !matches!(t, Type::Tuple(tuple) if tuple.elems.is_empty()));
    let names: Option<Vec<Ident>> = args
        .outputs
        .as_ref()
        .map(|outputs| outputs.iter().map(|o| o.ident.clone()).collect());
    let outputs: Vec<(LitStr, Type)> = match (&names, &value_ty) {
        (None, None) => Vec::new(),
        (None, Some(ty)) => vec![(LitStr::new("output", Span::call_site()), ty.clone())],
        (Some(names), Some(Type::Tuple(tuple))) if names.len() > 1 => {
            if names.len() != tuple.elems.len() {
                return Err(syn::Error::new_spanned(
                    tuple,
                    format!(
                        "`outputs(…)` names {} outputs, but the function returns {} values",
                        names.len(),
                        tuple.elems.len()
                    ),
                ));
            }
            names
                .iter()
                .zip(tuple.elems.iter())
                .map(|(n, t)| (LitStr::new(&n.to_string(), n.span()), t.clone()))
                .collect()
        }
        (Some(names), Some(ty)) if names.len() == 1 => vec![(
            LitStr::new(&names[0].to_string(), names[0].span()),
            ty.clone(),
        )],
        (Some(names), _) => {
            return Err(syn::Error::new_spanned(
                &names[0],
                "with several `outputs(…)`, the function returns a tuple with one value per output",
            ));
        }
    };
    for (name, _) in &args.materializers {
        let known = outputs.iter().any(|(o, _)| *name == o.value())
            || arg_kinds
                .iter()
                .any(|(a, k)| matches!(k, ArgKind::Input(_) | ArgKind::Collected(_)) && a == name);
        if !known {
            return Err(syn::Error::new_spanned(
                name,
                "no input or output of this step has this name",
            ));
        }
    }
    let select = |name: &str, ty: &Type| -> TokenStream {
        match args.materializers.iter().find(|(n, _)| n == name) {
            Some((_, path)) => quote! {{
                let __m: ::zenml::pipeline::__private::BoxedMaterializer<#ty> =
                    ::zenml::pipeline::__private::explicit::<#path>();
                __m
            }},
            None => quote! {{
                #[allow(unused_imports)]
                use ::zenml::pipeline::__private::{ViaDefault as _, ViaSerde as _};
                let __m: ::zenml::pipeline::__private::BoxedMaterializer<#ty> =
                    (&&::zenml::pipeline::__private::Select::<#ty>::new()).materializer();
                __m
            }},
        }
    };

    // The builder's signature and declarations.
    let mut builder_args = Vec::new();
    let mut declarations = Vec::new();
    let mut loads = Vec::new();
    let mut call_args = Vec::new();
    for (ident, kind) in &arg_kinds {
        let key = LitStr::new(&ident.to_string(), ident.span());
        match kind {
            ArgKind::Context => call_args.push(quote!(__invocation.context())),
            ArgKind::Param(ty) => {
                builder_args.push(quote!(#ident: #ty));
                declarations.push(quote!(__builder.param::<#ty>(#key, &#ident);));
                loads.push(quote!(let #ident: #ty = __invocation.param(#key)?;));
                call_args.push(quote!(::zenml::pipeline::Param::new(#ident)));
            }
            ArgKind::Input(ty) => {
                builder_args.push(quote!(#ident: ::zenml::pipeline::Output<#ty>));
                declarations.push(quote!(__builder.input::<#ty>(#key, #ident);));
                let materializer = select(&ident.to_string(), ty);
                loads.push(quote!(let #ident: #ty = __invocation.input(#key, &*#materializer)?;));
                call_args.push(quote!(#ident));
            }
            ArgKind::Collected(ty) => {
                builder_args.push(quote!(#ident: ::std::vec::Vec<::zenml::pipeline::Output<#ty>>));
                declarations.push(quote!(__builder.collected::<#ty>(#key, #ident);));
                let materializer = select(&ident.to_string(), ty);
                loads.push(quote! {
                    let #ident = ::zenml::pipeline::Collected::new(
                        __invocation.collected::<#ty>(#key, &*#materializer)?,
                    );
                });
                call_args.push(quote!(#ident));
            }
        }
    }
    for (key, ty) in &outputs {
        let materializer = select(&key.value(), ty);
        declarations.push(quote! {{
            let __m = #materializer;
            __builder.output::<#ty>(#key, __m.id(), __m.version());
        }});
        let options = args
            .outputs
            .iter()
            .flatten()
            .find(|o| o.ident == key.value() && o.has_options());
        if let Some(options) = options {
            let name = match &options.artifact_name {
                Some(name) => quote!(::std::option::Option::Some(#name)),
                None => quote!(::std::option::Option::None),
            };
            let tags = &options.tags;
            let statistics = options.statistics.unwrap_or(true);
            declarations.push(quote! {
                __builder.output_options(#key, ::zenml::pipeline::OutputOptions {
                    artifact_name: #name,
                    tags: &[#(#tags),*],
                    statistics: #statistics,
                });
            });
        }
    }
    let value = if is_result {
        quote!(::zenml::pipeline::IntoStepResult::into_step_result(
            __returned
        )?)
    } else {
        quote!(__returned)
    };
    let (store_outputs, builder_ret, handles) = match outputs.len() {
        0 => (
            quote!(let _ = __value;),
            quote!(()),
            quote!(let _ = __node;),
        ),
        1 => {
            let (key, ty) = &outputs[0];
            let materializer = select(&key.value(), ty);
            (
                quote!(__invocation.output(#key, &*#materializer, &__value)?;),
                quote!(::zenml::pipeline::Output<#ty>),
                quote!(::zenml::pipeline::__private::StepBuilder::handle::<#ty>(__node, #key)),
            )
        }
        _ => {
            let parts: Vec<Ident> = (0..outputs.len())
                .map(|i| format_ident!("__output_{}", i))
                .collect();
            let stores = outputs.iter().zip(&parts).map(|((key, ty), part)| {
                let materializer = select(&key.value(), ty);
                quote!(__invocation.output(#key, &*#materializer, &#part)?;)
            });
            let types = outputs
                .iter()
                .map(|(_, ty)| quote!(::zenml::pipeline::Output<#ty>));
            let handle_exprs = outputs
                .iter()
                .map(|(key, ty)| quote!(::zenml::pipeline::__private::StepBuilder::handle::<#ty>(__node, #key)));
            (
                quote! { let (#(#parts),*) = __value; #(#stores)* },
                quote!((#(#types),*)),
                quote!((#(#handle_exprs),*)),
            )
        }
    };
    let version = match &args.version {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    };
    let enable_cache = match args.enable_cache {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    };
    let code = LitStr::new(&code, Span::call_site());
    let resources = args.resources.map(|r| {
        let option = |value: Option<TokenStream>| match value {
            Some(v) => quote!(::core::option::Option::Some(#v)),
            None => quote!(::core::option::Option::None),
        };
        let cpus = option(r.cpus.map(|n| quote!(#n)));
        let memory = option(r.memory.map(|m| quote!(#m)));
        let gpus = option(r.gpus.map(|n| quote!(#n)));
        quote!(__builder.resources(#cpus, #memory, #gpus);)
    });
    let retries = args.retries.map(|n| quote!(__builder.retries(#n);));

    Ok(quote! {
        #(#docs)*
        #[allow(clippy::too_many_arguments, clippy::unused_unit)]
        #vis fn #name(#(#builder_args),*) -> #builder_ret {
            #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
            fn #body_ident(#original_inputs) #original_output #body

            let mut __builder = ::zenml::pipeline::__private::StepBuilder::new(#name_str, ::core::module_path!(), #code, #version, #enable_cache);
            #resources
            #retries
            #(#declarations)*
            let __node = __builder.finish(|__invocation: &::zenml::pipeline::__private::StepInvocation<'_>| {
                #(#loads)*
                let __returned = #body_ident(#(#call_args),*);
                let __value = #value;
                #store_outputs
                ::core::result::Result::Ok(())
            });
            #handles
        }
    })
}

fn is_context(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    matches!(&*reference.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "StepContext"))
}

/// Writes a canonical text of `tokens` to `out`, walking the token tree: one line per token
/// with its kind and text (identifiers, literals as written, punctuation with its spacing)
/// and explicit open and close lines for each group's delimiter. Unlike `TokenStream`'s
/// `Display`, whose spacing is not specified and has changed between compiler versions,
/// this depends only on the tokens, so that a step's code hash survives a compiler upgrade
/// and changes with any change of its tokens.
fn walk_tokens(tokens: TokenStream, out: &mut String) {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => {
                out.push_str("i ");
                out.push_str(&ident.to_string());
            }
            TokenTree::Literal(literal) => {
                out.push_str("l ");
                out.push_str(&literal.to_string());
            }
            TokenTree::Punct(punct) => {
                out.push_str(match punct.spacing() {
                    Spacing::Joint => "pj ",
                    Spacing::Alone => "pa ",
                });
                out.push(punct.as_char());
            }
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("<none", "none>"),
                };
                out.push_str("g ");
                out.push_str(open);
                out.push('\n');
                walk_tokens(group.stream(), out);
                out.push_str("g ");
                out.push_str(close);
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(source: &str) -> String {
        let tokens: TokenStream = source.parse().unwrap_or_else(|e| panic!("{e}"));
        let mut out = String::new();
        walk_tokens(tokens, &mut out);
        out
    }

    #[test]
    fn the_code_text_depends_on_tokens_not_on_layout() {
        let compact = walked("fn f(a: u32) -> u32 { a+1 }");
        let spaced = walked("fn  f ( a : u32 )\n -> u32 {\n    a + 1 // one more\n}");
        assert_eq!(compact, spaced);
        assert_ne!(compact, walked("fn f(a: u32) -> u32 { a+2 }"));
        assert_ne!(compact, walked("fn f(a: u32) -> u32 { (a+1) }"));
        // Spacing of punctuation is part of a token: `->` is not `- >`.
        assert_ne!(walked("a -> b"), walked("a - > b"));
        assert!(
            compact.contains("i fn\n") && compact.contains("g {\n"),
            "{compact}"
        );
    }
}
