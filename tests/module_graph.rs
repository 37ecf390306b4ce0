//! The source's own shape: no module of `src/` uses, directly or round about, a module that
//! uses it back. A circle means neither file can be read, changed or moved without the other;
//! where two modules need the same thing, it gets a module of its own.
//!
//! The graph is read from the source: every path a file names that starts `crate::`,
//! `super::`, `self::` or a child module's name (in `use` declarations and inline), leading
//! to the file that defines the item (through `pub use` re-exports, so a parent that only
//! re-exports its children does not count as their dependency). Test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let graph = Graph::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
    assert!(graph.files.len() > 40, "read {} modules", graph.files.len());
    assert!(graph.edges.values().map(BTreeSet::len).sum::<usize>() > 100);
    let circles = graph.circles();
    assert!(circles.is_empty(), "modules that use each other round about:\n{}", {
        let show = |c: &Vec<Module>| c.iter().map(name).collect::<Vec<_>>().join(" -> ");
        circles.iter().map(show).collect::<Vec<_>>().join("\n")
    });
}

#[test]
fn the_reader_finds_a_circle_when_there_is_one() {
    let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    let write = |file: &str, text: &str| std::fs::write(dir.join(file), text).unwrap();
    write("lib.rs", "mod a;\nmod b;\npub use b::B;");
    write(
        "a/mod.rs",
        "mod c;\npub use c::C;\n// crate::b::nothing\nfn f() -> super::B { todo!() }",
    );
    write("a/c.rs", "use crate::{a::C as _, b::{self, B}};\nlet s = \"crate::a\";");
    write(
        "b.rs",
        "pub struct B;\nfn g() { let _ = crate::a::C; }\n#[cfg(test)]\nmod tests { use crate::a; }",
    );
    let graph = Graph::read(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    // a only re-exports c, so b's use of `crate::a::C` leads to a::c; c uses b; b uses c.
    assert_eq!(graph.circles().len(), 1, "{:?}", graph.edges);
    assert_eq!(graph.circles()[0].iter().map(name).collect::<Vec<_>>(), ["a::c", "b"]);
}

fn name(module: &Module) -> String {
    if module.is_empty() { "crate".to_owned() } else { module.join("::") }
}

struct Graph {
    files: BTreeMap<Module, String>,
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut files = BTreeMap::new();
        read_dir(src, src, &mut files);
        // (module, name) -> the path that module re-exports under that name.
        let mut reexports: BTreeMap<(Module, String), Module> = BTreeMap::new();
        let mut named: Vec<(Module, Module)> = Vec::new();
        for (module, text) in &files {
            let children: BTreeSet<String> = files
                .keys()
                .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
                .map(|m| m.last().unwrap().clone())
                .collect();
            let text = code_only(text);
            let tokens = tokens(&text);
            for (at, token) in tokens.iter().enumerate() {
                let starts = ["crate", "super", "self"].contains(&token.as_str())
                    || (children.contains(token) && (at == 0 || tokens[at - 1] != "::"));
                if starts && tokens.get(at + 1).is_some_and(|t| t == "::") {
                    let mut paths = Vec::new();
                    use_tree(&tokens, at, Vec::new(), &mut paths);
                    named.extend(paths.into_iter().map(|p| (module.clone(), absolute(module, &p))));
                }
                let is_pub_use =
                    token == "use" && at > 0 && (tokens[at - 1] == "pub" || tokens[at - 1] == ")");
                if is_pub_use {
                    let mut paths = Vec::new();
                    use_tree(&tokens, at + 1, Vec::new(), &mut paths);
                    for path in paths {
                        let (Some(last), abs) = (path.last(), absolute(module, &path)) else {
                            continue;
                        };
                        reexports.insert((module.clone(), last.clone()), abs);
                    }
                }
            }
        }
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (from, path) in named {
            let to = resolve(&files, &reexports, &path, 0);
            if to != from && !to.is_empty() {
                edges.entry(from).or_default().insert(to);
            }
        }
        Graph { files, edges }
    }

    /// Each group of modules that reach one another (Tarjan's strongly connected components).
    fn circles(&self) -> Vec<Vec<Module>> {
        struct Walk<'g> {
            graph: &'g Graph,
            index: BTreeMap<&'g Module, (usize, usize)>,
            stack: Vec<&'g Module>,
            found: Vec<Vec<Module>>,
        }
        impl<'g> Walk<'g> {
            fn visit(&mut self, v: &'g Module) {
                let n = self.index.len();
                self.index.insert(v, (n, n));
                self.stack.push(v);
                for w in self.graph.edges.get(v).into_iter().flatten() {
                    let low = match self.index.get(w) {
                        None => {
                            self.visit(w);
                            self.index[w].1
                        }
                        Some(&(i, _)) if self.stack.contains(&w) => i,
                        Some(_) => continue,
                    };
                    let entry = self.index.get_mut(v).unwrap();
                    entry.1 = entry.1.min(low);
                }
                if self.index[v].0 == self.index[v].1 {
                    let at = self.stack.iter().rposition(|m| *m == v).unwrap();
                    let group: Vec<Module> = self.stack.drain(at..).cloned().collect();
                    if group.len() > 1 {
                        self.found
                            .push(group.into_iter().collect::<BTreeSet<_>>().into_iter().collect());
                    }
                }
            }
        }
        let mut walk = Walk { graph: self, index: BTreeMap::new(), stack: vec![], found: vec![] };
        for module in self.files.keys() {
            if !walk.index.contains_key(module) {
                walk.visit(module);
            }
        }
        walk.found
    }
}

fn read_dir(root: &Path, dir: &Path, files: &mut BTreeMap<Module, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_dir(root, &path, files);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path == root.join("main.rs") {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap().with_extension("");
        let mut module: Module =
            relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
        if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
            module.pop();
        }
        files.insert(module, std::fs::read_to_string(&path).unwrap());
    }
}

/// `path` as named in `module`, from the crate's root.
fn absolute(module: &Module, path: &[String]) -> Module {
    let mut at: Module = module.clone();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                at.pop();
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    at.extend(rest.iter().filter(|s| *s != "self").cloned());
    at
}

/// The module that defines what `path` names: its longest prefix that is a module, followed
/// through that module's re-export of the next name.
fn resolve(
    files: &BTreeMap<Module, String>,
    reexports: &BTreeMap<(Module, String), Module>,
    path: &[String],
    depth: usize,
) -> Module {
    for n in (0..=path.len()).rev() {
        let module = path[..n].to_vec();
        if !files.contains_key(&module) {
            continue;
        }
        if let Some(target) =
            path.get(n).and_then(|next| reexports.get(&(module.clone(), next.clone())))
        {
            if depth < 8 && target.as_slice() != path {
                let mut target = target.clone();
                target.extend(path[n + 1..].iter().cloned());
                return resolve(files, reexports, &target, depth + 1);
            }
        }
        return module;
    }
    Module::new()
}

/// The paths of a use tree starting at `tokens[at]`: `a::b::{c, d::{e, f}}`, `a::*`, `a as b`.
fn use_tree(
    tokens: &[String],
    mut at: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        let Some(token) = tokens.get(at) else { return at };
        if token == "{" {
            at += 1;
            loop {
                if tokens.get(at).is_none_or(|t| t == "}") {
                    return at + 1;
                }
                at = use_tree(tokens, at, prefix.clone(), out);
                if tokens.get(at).is_some_and(|t| t == ",") {
                    at += 1;
                }
            }
        }
        if !is_ident(token) && token != "*" {
            return at;
        }
        prefix.push(token.clone());
        if tokens.get(at + 1).is_some_and(|t| t == "::") {
            at += 2;
            continue;
        }
        out.push(prefix);
        at += 1;
        if tokens.get(at).is_some_and(|t| t == "as") {
            at += 2;
        }
        return at;
    }
}

fn is_ident(token: &str) -> bool {
    token.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !(d.is_alphanumeric() || d == '_') {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            out.push(text[i..end].to_owned());
        } else if c == ':' && chars.peek().is_some_and(|&(_, d)| d == ':') {
            chars.next();
            out.push("::".to_owned());
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

/// The code of a file without comments, string and character literals, or inline test
/// modules (`#[cfg(test)] mod … { … }`).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = hashes + 2 + usize::from(rest.starts_with('b'));
            i += body + rest[body..].find(&close).map_or(rest.len() - body, |e| e + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(rest).is_some() {
            i += char_literal_len(rest).unwrap();
            out.push_str("' '");
        } else if let Some(after) = rest.strip_prefix("#[cfg(test)]") {
            let after = after.trim_start();
            let Some(block) = after.strip_prefix("mod ").and_then(|m| m.find(['{', ';'])) else {
                out.push('#');
                i += 1;
                continue;
            };
            let start = i + (rest.len() - after.len()) + "mod ".len() + block;
            if b[start] == b';' {
                i = start + 1;
                continue;
            }
            let mut depth = 0;
            i = start;
            while i < b.len() {
                match b[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, `br##"`…: how many `#`.
fn raw_string_start(s: &str) -> Option<usize> {
    let s = s.strip_prefix('b').unwrap_or(s).strip_prefix('r')?;
    let hashes = s.len() - s.trim_start_matches('#').len();
    s[hashes..].starts_with('"').then_some(hashes)
}

/// The length of a character literal at the start of `s` (`'a'`, `'\n'`, `'\u{1F600}'`);
/// `None` for a lifetime (`'a`).
fn char_literal_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    let (_, first) = chars.next()?;
    if first == '\\' {
        return s[2..].find('\'').map(|e| e + 3);
    }
    let (at, next) = chars.next()?;
    (next == '\'').then_some(at + 1)
}
