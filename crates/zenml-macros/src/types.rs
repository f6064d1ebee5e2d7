//! Reading Rust types in macro input.

use syn::{GenericArgument, PathArguments, Type};

/// `T` when `ty` is `Wrapper<T>` (by the last path segment, e.g. `Option<T>`,
/// `std::option::Option<T>`, `Param<T>`), otherwise `None`.
pub(crate) fn single_generic<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}
