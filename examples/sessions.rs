//! Writes the generated test sessions (`large.json`, `xlarge.json`) into a directory, for the
//! browser tests and anyone who wants them as files: `cargo run --example sessions -- DIR`.
//! The same seeds as the Rust tests use, so the files are the same bytes everywhere.

#[path = "../tests/support/sessions.rs"]
mod sessions;

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "target/fixtures".into());
    std::fs::create_dir_all(&dir)?;
    for name in ["large.json", "xlarge.json"] {
        let path = std::path::Path::new(&dir).join(name);
        let bytes = sessions::by_name(name).expect("a generated session");
        std::fs::write(&path, &bytes)?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
