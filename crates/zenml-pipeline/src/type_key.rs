//! The type of an artifact, compared in a way that survives a compiler upgrade.
//!
//! Artifacts record `std::any::type_name` of their value's type, whose exact text the
//! standard library documents as unstable: a new compiler may spell a standard type through
//! another path (`alloc::vec::Vec` or `std::vec::Vec`), space it differently, or show
//! lifetimes differently. Comparing those texts as they are would turn a cache hit or an
//! input load into an error after `rustup update`. The [`type_key`] of a name keeps what
//! identifies the type (the full path of every type outside the standard library, the
//! shape of generics, references and tuples) and drops what the compiler may vary: the
//! module path of standard types (only their name is kept), white space and lifetimes.
//! Records keep the name as written, so artifacts recorded before (and by any compiler)
//! are compared the same way.

/// The comparable key of a type name; see the module documentation.
pub fn type_key(type_name: &str) -> String {
    let mut key = String::with_capacity(type_name.len());
    let mut chars = type_name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c == '\'' {
            // A lifetime: drop it, and the comma that may follow it in a generic list.
            while chars
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                chars.next();
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == ':' {
            let mut path = String::from(c);
            while let Some(&next) = chars.peek() {
                if next.is_alphanumeric() || next == '_' || next == ':' {
                    path.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            let segments: Vec<&str> = path.split("::").collect();
            let standard = matches!(segments.first(), Some(&("core" | "alloc" | "std")));
            if standard && segments.len() > 1 {
                key.push_str(segments.last().copied().unwrap_or_default());
            } else {
                key.push_str(&path);
            }
            continue;
        }
        key.push(c);
    }
    key
}

/// Whether the recorded type name `recorded` and the type name `expected` name the same
/// type: equal [`type_key`]s.
pub fn same_type(recorded: &str, expected: &str) -> bool {
    recorded == expected || type_key(recorded) == type_key(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_paths_spacing_and_lifetimes_do_not_matter() {
        for (a, b) in [
            (
                "alloc::vec::Vec<alloc::string::String>",
                "std::vec::Vec<std::string::String>",
            ),
            ("alloc::vec::Vec<u64>", "Vec<u64>"),
            (
                "std::collections::hash::map::HashMap<alloc::string::String, f64>",
                "std::collections::HashMap<String,f64>",
            ),
            ("&'static str", "&str"),
            ("my_crate::Wrapper<'a, u8>", "my_crate::Wrapper<u8>"),
            ("(u32, core::option::Option<f64>)", "(u32,Option<f64>)"),
            ("[u8; 4]", "[u8;4]"),
        ] {
            assert!(
                same_type(a, b),
                "{a} ~ {b}: {} vs {}",
                type_key(a),
                type_key(b)
            );
        }
    }

    #[test]
    fn real_differences_remain() {
        for (a, b) in [
            ("my_crate::a::Model", "my_crate::b::Model"),
            ("alloc::vec::Vec<u64>", "alloc::vec::Vec<u32>"),
            ("training::Model", "serving::Model"),
            ("std::vec::Vec<my::A>", "std::vec::Vec<my::B>"),
            ("(u32, u64)", "(u64, u32)"),
            ("&str", "alloc::string::String"),
        ] {
            assert!(!same_type(a, b), "{a} vs {b}");
        }
        // The type names this compiler writes are their own keys' source.
        let name = std::any::type_name::<Vec<std::collections::HashMap<String, f64>>>();
        assert_eq!(type_key(name), "Vec<HashMap<String,f64>>");
    }
}
