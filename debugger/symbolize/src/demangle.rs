//! Symbol names as people (or llvm-symbolizer) print them.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;

/// How mangled names are turned into text.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum NameStyle {
    /// Exactly as `llvm-symbolizer` prints them: legacy Rust names
    /// (`_ZN…E`) demangled the Itanium way, hash and `$LT$`-style escapes
    /// kept (`shapes::checksum::h7a48…`); v0 Rust names (`_R…`) demangled
    /// without crate disambiguators; C names unchanged.
    #[default]
    Llvm,
    /// For people: every Rust name without hashes or escapes
    /// (`<shapes::Rect as shapes::Shape>::area`); C names unchanged.
    Readable,
    /// Names as they are in the ELF (`llvm-symbolizer --no-demangle`).
    Raw,
}

impl NameStyle {
    pub fn demangle(self, name: &str) -> Cow<'_, str> {
        match self {
            NameStyle::Llvm => {
                if name.starts_with("_Z") {
                    match itanium_nested_name(name) {
                        Some(text) => Cow::Owned(text),
                        None => cpp(name),
                    }
                } else if name.starts_with("_R") {
                    // LLVM shows a suffix (`.llvm.1234`) after the name.
                    match name.split_once('.') {
                        Some((encoding, suffix)) => match rust(encoding) {
                            Cow::Owned(text) => Cow::Owned(format!("{text} (.{suffix})")),
                            Cow::Borrowed(_) => Cow::Borrowed(name),
                        },
                        None => rust(name),
                    }
                } else {
                    Cow::Borrowed(name)
                }
            }
            NameStyle::Readable => match rust(name) {
                Cow::Borrowed(name) if name.starts_with("_Z") => cpp(name),
                demangled => demangled,
            },
            NameStyle::Raw => Cow::Borrowed(name),
        }
    }
}

fn rust(name: &str) -> Cow<'_, str> {
    match rustc_demangle::try_demangle(name) {
        Ok(demangled) => Cow::Owned(format!("{demangled:#}")),
        Err(_) => Cow::Borrowed(name),
    }
}

/// A C++ (Itanium ABI) name, demangled as LLVM's demangler prints it;
/// the name itself when it does not demangle.
///
/// `cpp_demangle` prints as libiberty does; LLVM differs in ways undone
/// here: no space between adjacent angle brackets (`a<b<c>>`,
/// `operator<<char>`), a GCC clone suffix (`.isra.0`, `.cold`, ...) shown
/// whole as ` (.isra.0)` instead of ` [clone .isra.0]`, nothing for an
/// empty template argument pack, and the spellings of [`llvm_spelling`].
fn cpp(name: &str) -> Cow<'_, str> {
    let (encoding, suffix) = match name.find('.') {
        Some(dot) => name.split_at(dot),
        None => (name, ""),
    };
    let options = cpp_demangle::DemangleOptions::new();
    let demangled = |encoding: &str| {
        cpp_demangle::Symbol::new(encoding)
            .ok()
            .and_then(|symbol| symbol.demangle_with_options(&options).ok())
    };
    let repaired = constructor_template_repaired(encoding);
    let Some(text) = repaired
        .as_deref()
        .and_then(demangled)
        .or_else(|| demangled(encoding))
    else {
        return Cow::Borrowed(name);
    };
    let mut out = String::with_capacity(text.len() + suffix.len() + 3);
    let mut chars = text.chars().peekable();
    let mut previous = '\0';
    while let Some(c) = chars.next() {
        if c == ' '
            && matches!(previous, '<' | '>')
            && chars.peek().is_some_and(|next| matches!(next, '<' | '>'))
        {
            continue;
        }
        out.push(c);
        previous = c;
    }
    // An empty template argument pack comes out of cpp_demangle as a stray
    // `, ` (`pair<T&&, >`); LLVM prints nothing for it.
    while let Some(at) = out.find(", >") {
        out.replace_range(at..at + 2, "");
    }
    let mut out = llvm_spelling(&out);
    if !suffix.is_empty() {
        out.push_str(" (");
        out.push_str(suffix);
        out.push(')');
    }
    Cow::Owned(out)
}

/// A constructor or destructor that is itself a template (`_ZN…C2I…EE…`)
/// has no return type in its mangling, but `cpp_demangle` 0.5 reads its
/// first parameter as one and drops it. Inserting a `void` return type
/// (`v`, which is never a substitution candidate, so no back-reference
/// moves) after the name makes it print the parameters LLVM prints. `None`
/// when `encoding` is not of that shape (as far as a light scan of the
/// nested name can tell; the caller falls back to the name as it is).
fn constructor_template_repaired(encoding: &str) -> Option<String> {
    let bytes = encoding.as_bytes();
    encoding.strip_prefix("_ZN")?;
    let mut at = 3;
    let mut depth = 1usize;
    // At depth 1: whether the last component is a constructor or
    // destructor, and whether template arguments follow it.
    let (mut structor, mut templated) = (false, false);
    let skip_to = |at: usize, byte: u8| -> Option<usize> {
        Some(at + bytes[at..].iter().position(|&b| b == byte)? + 1)
    };
    while at < bytes.len() {
        let byte = bytes[at];
        let next = bytes.get(at + 1).copied().unwrap_or(0);
        let outer = depth == 1;
        match byte {
            b'0'..=b'9' => {
                let digits = bytes[at..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let length: usize = encoding[at..at + digits].parse().ok()?;
                at = at.checked_add(digits)?.checked_add(length)?;
                if outer {
                    structor = false;
                }
                continue;
            }
            b'S' if next.is_ascii_lowercase() => at += 2,
            b'S' | b'T' | b'A' => at = skip_to(at, b'_')?,
            b'L' if next != b'_' => at = skip_to(at, b'E')?,
            b'C' if (b'1'..=b'5').contains(&next) => {
                at += 2;
                if outer {
                    (structor, templated) = (true, false);
                }
                continue;
            }
            b'D' if (b'0'..=b'5').contains(&next) => {
                at += 2;
                if outer {
                    (structor, templated) = (true, false);
                }
                continue;
            }
            b'D' if next == b'T' || next == b't' => {
                depth += 1;
                at += 2;
            }
            b'D' if next == b'v' => at = skip_to(at, b'_')?,
            b'D' => at += 2,
            b'I' => {
                if outer && structor {
                    templated = true;
                }
                depth += 1;
                at += 1;
                continue;
            }
            b'N' | b'J' | b'X' | b'F' | b'Z' | b'L' => {
                depth += 1;
                at += 1;
            }
            b'E' => {
                depth -= 1;
                at += 1;
                if depth == 0 {
                    if !(structor && templated) {
                        return None;
                    }
                    let mut repaired = String::with_capacity(encoding.len() + 1);
                    repaired.push_str(&encoding[..at]);
                    repaired.push('v');
                    repaired.push_str(&encoding[at..]);
                    return Some(repaired);
                }
                continue;
            }
            _ => at += 1,
        }
        if outer && depth == 1 {
            structor = false;
        }
    }
    None
}

/// Rewrites the spellings where LLVM's demangler and `cpp_demangle` (which
/// follows libiberty) differ: `{vtable(T)}` is `vtable for T`,
/// `{lambda(A)#2}` is `'lambda0'(A)`, `{unnamed type#1}` is `'unnamed'`,
/// and an integer literal `(unsigned long)3` is `3ul`.
fn llvm_spelling(text: &str) -> String {
    for (theirs, ours) in [
        ("{vtable(", "vtable for "),
        ("{vtt(", "VTT for "),
        ("{typeinfo(", "typeinfo for "),
        ("{typeinfo name(", "typeinfo name for "),
    ] {
        if let Some(inner) = text.strip_prefix(theirs).and_then(|t| t.strip_suffix(")}")) {
            return alloc::format!("{ours}{}", llvm_spelling(inner));
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{lambda(")
            && let Some((args, number, tail)) = closure_parts(after)
        {
            out.push_str("'lambda");
            if number >= 2 {
                out.push_str(&alloc::format!("{}", number - 2));
            }
            out.push_str("'(");
            out.push_str(&llvm_spelling(args));
            out.push(')');
            rest = tail;
            continue;
        }
        if let Some(after) = rest.strip_prefix("{unnamed type#")
            && let Some((digits, tail)) = after.split_once('}')
            && let Ok(number) = digits.parse::<u64>()
        {
            out.push_str("'unnamed");
            if number >= 2 {
                out.push_str(&alloc::format!("{}", number - 2));
            }
            out.push('\'');
            rest = tail;
            continue;
        }
        if let Some((literal, tail)) = integer_literal(rest) {
            out.push_str(&literal);
            rest = tail;
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// After `{lambda(`: the parameters, the closure's number and what follows
/// `)#N}`.
fn closure_parts(after: &str) -> Option<(&str, u64, &str)> {
    let mut depth = 0usize;
    for (index, c) in after.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            ')' => {
                let args = &after[..index];
                let tail = after[index + 1..].strip_prefix('#')?;
                let (digits, tail) = tail.split_once('}')?;
                return Some((args, digits.parse().ok()?, tail));
            }
            _ => {}
        }
    }
    None
}

/// `(unsigned long)3…` → (`3ul`, `…`), for the integer types LLVM writes
/// with a suffix (or none, for `int`).
fn integer_literal(text: &str) -> Option<(String, &str)> {
    let rest = text.strip_prefix('(')?;
    for (ty, suffix) in [
        ("unsigned long long)", "ull"),
        ("long long)", "ll"),
        ("unsigned long)", "ul"),
        ("long)", "l"),
        ("unsigned int)", "u"),
        ("int)", ""),
    ] {
        if let Some(after) = rest.strip_prefix(ty) {
            let negative = after.starts_with('-');
            let digits = after[usize::from(negative)..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if digits == 0 {
                return None;
            }
            let end = usize::from(negative) + digits;
            return Some((alloc::format!("{}{suffix}", &after[..end]), &after[end..]));
        }
    }
    None
}

/// Itanium demangling of a plain nested name, `_ZN <len><id>... E [.suffix]`
/// (the shape of every legacy Rust symbol): the identifiers joined by `::`,
/// verbatim, and a `.suffix` shown as ` (.suffix)` as LLVM's demangler does.
fn itanium_nested_name(name: &str) -> Option<String> {
    let mut rest = name.strip_prefix("_ZN")?;
    let mut out = String::new();
    loop {
        if let Some(after) = rest.strip_prefix('E') {
            if out.is_empty() {
                return None;
            }
            if !after.is_empty() {
                if !after.starts_with('.') {
                    return None;
                }
                out.push_str(" (");
                out.push_str(after);
                out.push(')');
            }
            return Some(out);
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || rest.starts_with('0') {
            return None;
        }
        let length: usize = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let identifier = rest.get(..length)?;
        if !out.is_empty() {
            out.push_str("::");
        }
        out.push_str(identifier);
        rest = &rest[length..];
    }
}

/// Whether a demangled `name` is what a person meant by `query`: the same,
/// or ending in `::query`, with or without a trailing Rust hash (`::h…`).
pub fn name_matches(name: &str, query: &str) -> bool {
    let plain = strip_hash(name);
    [name, plain].iter().any(|candidate| {
        *candidate == query
            || candidate
                .strip_suffix(query)
                .is_some_and(|head| head.ends_with("::"))
    })
}

/// `path::h0123456789abcdef` → `path`.
pub fn strip_hash(name: &str) -> &str {
    if let Some((head, hash)) = name.rsplit_once("::h")
        && hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return head;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rust_names_demangle_the_llvm_way() {
        let llvm = NameStyle::Llvm;
        assert_eq!(
            llvm.demangle("_ZN6shapes8checksum17h7a4804e02ae247a3E"),
            "shapes::checksum::h7a4804e02ae247a3"
        );
        assert_eq!(
            llvm.demangle(
                "_ZN46_$LT$shapes..Rect$u20$as$u20$shapes..Shape$GT$4area17h816d0ee3447887b7E"
            ),
            "_$LT$shapes..Rect$u20$as$u20$shapes..Shape$GT$::area::h816d0ee3447887b7"
        );
        assert_eq!(
            llvm.demangle("_ZN3foo3barE.llvm.1234"),
            "foo::bar (.llvm.1234)"
        );
        assert_eq!(llvm.demangle("_ZN3fooE"), "foo");
        assert_eq!(
            llvm.demangle("_RNvNtCsg3SjgaGcPXb_4core9panicking9panic_fmt.llvm.42"),
            "core::panicking::panic_fmt (.llvm.42)"
        );
        assert_eq!(
            llvm.demangle("_ZN3geo5totalERKSt6vectorIPNS_5ShapeESaIS2_EE.isra.0"),
            "geo::total(std::vector<geo::Shape*, std::allocator<geo::Shape*>> const&) (.isra.0)"
        );
        assert_eq!(llvm.demangle("_ZTVN3geo5ShapeE"), "vtable for geo::Shape");
        assert_eq!(
            llvm.demangle("_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC4IS3_EEPKcRKS3_"),
            "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char>>::\
             basic_string<std::allocator<char>>(char const*, std::allocator<char> const&)"
        );
        assert_eq!(
            llvm.demangle("_ZZ4mainENKUllE_clEl"),
            "main::'lambda'(long)::operator()(long) const"
        );
        assert_eq!(llvm.demangle("_ZN3foo"), "_ZN3foo");
        assert_eq!(llvm.demangle("_ZN9foo"), "_ZN9foo");
        assert_eq!(llvm.demangle("main"), "main");
    }

    #[test]
    fn truncated_and_odd_names_do_not_panic() {
        let names = [
            "_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC4IS3_EEPKcRKS3_",
            "_ZN3geo5totalERKSt6vectorIPNS_5ShapeESaIS2_EE.isra.0",
            "_ZZ4mainENKUllE_clEl",
            "_ZN1AC2IJiiEEEDpOT_",
            "_ZN99999999999999999999999C2IiEEv",
            "_RNvNtCsg3SjgaGcPXb_4core9panicking9panic_fmt.llvm.42",
        ];
        for name in names {
            for end in 0..=name.len() {
                for style in [NameStyle::Llvm, NameStyle::Readable, NameStyle::Raw] {
                    let _ = style.demangle(&name[..end]);
                }
            }
        }
    }

    #[test]
    fn readable_names_lose_hashes_and_escapes() {
        let readable = NameStyle::Readable;
        assert_eq!(
            readable.demangle(
                "_ZN46_$LT$shapes..Rect$u20$as$u20$shapes..Shape$GT$4area17h816d0ee3447887b7E"
            ),
            "<shapes::Rect as shapes::Shape>::area"
        );
        assert_eq!(
            readable.demangle("_RNvNtCsg3SjgaGcPXb_4core9panicking9panic_fmt"),
            "core::panicking::panic_fmt"
        );
        assert_eq!(readable.demangle("main"), "main");
    }

    #[test]
    fn names_match_by_suffix_without_hash() {
        assert!(name_matches(
            "shapes::checksum::h7a4804e02ae247a3",
            "checksum"
        ));
        assert!(name_matches(
            "shapes::checksum::h7a4804e02ae247a3",
            "shapes::checksum"
        ));
        assert!(name_matches("main", "main"));
        assert!(!name_matches("shapes::checksum", "sum"));
        assert_eq!(strip_hash("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(strip_hash("a::hello"), "a::hello");
    }
}
