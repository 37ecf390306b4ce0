//! The source's own shape: no module of `src/` uses, directly or round about, a module that
//! uses it back. A circle means neither file can be read, changed or moved without the other;
//! where two modules need the same thing, it gets a module of its own.
//!
//! The graph is read from the source, parsed by `syn`: every path a file names that starts
//! `crate::`, `super::`, `self::` or a child module's name (in `use` declarations, in code and
//! inside macro calls), leading to the file that defines the item (through `pub use`
//! re-exports, so a parent that only re-exports its children does not count as their
//! dependency). Test modules (`#[cfg(test)] mod`) are left out.

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
    write(
        "a/c.rs",
        "use crate::{a::C as _, b::{self, B}};\nfn f() { let s = \"crate::a\"; format!(\"{}\", super::super::b::B); }",
    );
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
            let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{}: {e}", name(module)));
            let mut paths = Paths { children: &children, used: Vec::new(), reexported: Vec::new() };
            syn::visit::visit_file(&mut paths, &file);
            named.extend(paths.used.iter().map(|p| (module.clone(), absolute(module, p))));
            for path in paths.reexported {
                if let Some(last) = path.last() {
                    reexports.insert((module.clone(), last.clone()), absolute(module, &path));
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

/// The paths a file names (see the module docs), and the ones it re-exports.
struct Paths<'a> {
    children: &'a BTreeSet<String>,
    used: Vec<Vec<String>>,
    reexported: Vec<Vec<String>>,
}

impl Paths<'_> {
    /// Whether a path that starts with `first` leads into the crate.
    fn ours(&self, first: &str) -> bool {
        ["crate", "super", "self"].contains(&first) || self.children.contains(first)
    }

    fn name(&mut self, path: Vec<String>) {
        if path.len() > 1 && self.ours(&path[0]) {
            self.used.push(path);
        }
    }
}

impl<'ast> syn::visit::Visit<'ast> for Paths<'_> {
    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        let test_only = module.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
        });
        if !test_only {
            syn::visit::visit_item_mod(self, module);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        use_tree(&item.tree, Vec::new(), &mut paths);
        if matches!(item.vis, syn::Visibility::Public(_) | syn::Visibility::Restricted(_)) {
            self.reexported.extend(paths.iter().cloned());
        }
        for path in paths {
            self.name(path);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.name(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }

    /// Macro arguments are tokens to syn: paths in them are read off the token trees.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        let mut found = Vec::new();
        paths_in_tokens(mac.tokens.clone(), &mut found);
        for path in found {
            self.name(path);
        }
    }
}

/// The paths of a use tree: `a::b::{c, d::{e, f}}`, `a::*`, `a as b`.
fn use_tree(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let with = |name: String| {
        let mut path = prefix.clone();
        path.push(name);
        path
    };
    match tree {
        syn::UseTree::Path(p) => use_tree(&p.tree, with(p.ident.to_string()), out),
        syn::UseTree::Name(n) => out.push(with(n.ident.to_string())),
        syn::UseTree::Rename(r) => out.push(with(r.ident.to_string())),
        syn::UseTree::Glob(_) => out.push(with("*".to_owned())),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_tree(tree, prefix.clone(), out);
            }
        }
    }
}

/// Every `a::b::c` in a token stream (identifiers joined by `::`), nested groups included.
fn paths_in_tokens(tokens: proc_macro2::TokenStream, out: &mut Vec<Vec<String>>) {
    use proc_macro2::TokenTree;
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut at = 0;
    while at < trees.len() {
        match &trees[at] {
            TokenTree::Group(group) => paths_in_tokens(group.stream(), out),
            TokenTree::Ident(first) => {
                let mut path = vec![first.to_string()];
                let mut next = at + 1;
                // `::` is two `:` puncts, then an identifier.
                while let (
                    Some(TokenTree::Punct(a)),
                    Some(TokenTree::Punct(b)),
                    Some(TokenTree::Ident(i)),
                ) = (trees.get(next), trees.get(next + 1), trees.get(next + 2))
                {
                    if a.as_char() != ':' || b.as_char() != ':' {
                        break;
                    }
                    path.push(i.to_string());
                    next += 3;
                }
                let after_colons = at >= 2
                    && matches!((&trees[at - 1], &trees[at - 2]), (TokenTree::Punct(a), TokenTree::Punct(b)) if a.as_char() == ':' && b.as_char() == ':');
                if !after_colons {
                    out.push(path);
                }
                at = next;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
}
