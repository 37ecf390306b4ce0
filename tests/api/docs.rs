//! The documents people read say what the code does: every flag with its environment
//! variable and default in the README's table, every error code with its status in
//! docs/api.md. One source for each fact; these tests fail when a copy drifts.

use std::collections::BTreeMap;

use clap::CommandFactory;
use poem_openapi::types::ToJSON;
use session_share::{configuration::Cli, error::ErrorCode};

fn read(file: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

/// The cells of each row of the Markdown tables in `text` whose header starts with `first`.
fn table_rows(text: &str, first: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(&format!("| {first}")) {
            inside = true;
            continue;
        }
        if !line.starts_with('|') {
            inside = false;
            continue;
        }
        if inside && !line.starts_with("|---") {
            rows.push(line.trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect());
        }
    }
    rows
}

#[test]
fn the_readme_lists_every_flag_with_its_variable_and_default() {
    let readme = read("README.md");
    // flag -> (env cell, default cell)
    let table: BTreeMap<String, (String, String)> = table_rows(&readme, "flag")
        .into_iter()
        .filter_map(|cells| {
            let flag = cells[0].trim_matches('`').split_whitespace().last()?.to_owned();
            flag.starts_with("--").then(|| (flag, (cells[1].clone(), cells[2].clone())))
        })
        .collect();
    let cli = Cli::command();
    let mut seen = Vec::new();
    for command in ["serve", "gc"] {
        let sub = cli.find_subcommand(command).unwrap();
        for arg in sub.get_arguments() {
            let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else { continue };
            let flag = format!("--{long}");
            let (env_cell, default_cell) =
                table.get(&flag).unwrap_or_else(|| panic!("{flag} is not in the README's table"));
            assert_eq!(env_cell, &format!("`{}`", env.to_string_lossy()), "{flag}");
            let defaults: Vec<String> =
                arg.get_default_values().iter().map(|d| d.to_string_lossy().into_owned()).collect();
            match (arg.get_action().takes_values(), defaults.as_slice()) {
                (false, _) => assert_eq!(default_cell, "off", "{flag} is a switch"),
                (true, [default]) => assert_eq!(default_cell, &format!("`{default}`"), "{flag}"),
                (true, _) => {}
            }
            seen.push(flag);
        }
    }
    let extra: Vec<&String> = table.keys().filter(|f| !seen.contains(f)).collect();
    assert!(extra.is_empty(), "the README lists flags that do not exist: {extra:?}");
    assert!(seen.len() > 25, "{seen:?}");
}

#[test]
fn docs_api_lists_every_error_code_with_its_status() {
    let api = read("docs/api.md");
    let mut documented: BTreeMap<String, u16> = BTreeMap::new();
    for cells in table_rows(&api, "status") {
        let status: u16 = cells[0].parse().unwrap();
        for code in cells[1].split(", ") {
            documented.insert(code.trim_matches('`').to_owned(), status);
        }
    }
    let codes = ErrorCode::all();
    assert!(codes.len() > 20);
    for code in codes {
        let name = code.to_json().unwrap().as_str().unwrap().to_owned();
        assert_eq!(
            documented.remove(&name),
            Some(code.status().as_u16()),
            "{name} in docs/api.md's error table"
        );
    }
    assert!(documented.is_empty(), "codes the service does not have: {documented:?}");
}

/// The README's route block calls only routes the router has, with methods they take, and
/// names every route of the API (`/api/...`), the share URL, Swagger UI and the metrics: a
/// route added, renamed or
/// dropped fails here until the README says so.
#[tokio::test]
async fn the_readme_route_block_calls_the_routes_the_router_has() {
    let app = crate::helpers::spawn_app().await;
    let readme = read("README.md");
    let section = readme.split("## Routes").nth(1).unwrap().split("\n## ").next().unwrap();
    let block = section.split("```sh").nth(1).unwrap().split("```").next().unwrap();
    // Each curl: its method (-X, else POST with a body, else GET) and its path after `$S`,
    // resolved by the router's own table, as a request to it would be.
    let mut named = std::collections::BTreeSet::new();
    let calls = block.lines().filter(|l| l.contains("curl ") && l.contains("$S/"));
    for line in calls {
        let method = match line.split("-sX ").nth(1) {
            Some(rest) => rest.split_whitespace().next().unwrap().to_owned(),
            None if line.contains(" -d ") || line.contains("--data-binary") => "POST".into(),
            None => "GET".into(),
        };
        let path = line.split("$S").nth(1).unwrap().split([' ', '"', '?']).next().unwrap();
        let path = path.trim_end_matches(".md");
        let route = app.routes.route(path);
        let taken = route.is_some_and(|(_, methods)| methods.iter().any(|m| m.as_str() == method));
        assert!(taken, "the README calls {method} {path}, which no route takes");
        named.insert(route.unwrap().0.as_str());
    }
    assert!(named.len() >= 10, "the route block's calls were not found: {named:?}");
    let unnamed: Vec<&str> = app
        .routes
        .routes()
        .iter()
        .map(|(pattern, _)| pattern.as_str())
        .filter(|p| p.starts_with("/api/") || ["/session/:id", "/docs", "/metrics"].contains(p))
        // Images are read by the page, not called by a person; docs/api.md lists them.
        .filter(|p| !p.contains("/images/") && !named.contains(p))
        .collect();
    assert!(unnamed.is_empty(), "routed but not in the README's route block: {unnamed:?}");
}
