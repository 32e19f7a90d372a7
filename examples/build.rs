//! Turns the README's Rust code blocks into a function the `readme` test runs, so a block
//! that stops compiling or running fails the test command.
//!
//! The blocks run in README order as one async body (later blocks use the `guard` and
//! `acme` of the first), with `?` returning a boxed error.
// Benchmark and build tooling, not library code: a failed step stops it with the reason.
#![allow(clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).expect("README.md is readable");
    let blocks = blocks(&text, "rust");
    assert!(!blocks.is_empty(), "README.md has no rust code block");
    let mut body = String::new();
    for (line, code) in &blocks {
        // Not wrapped in braces: `let` bindings of a block reach the later blocks.
        writeln!(body, "    // README.md line {line}").expect("writing to a String cannot fail");
        for l in code.lines() {
            writeln!(body, "    {l}").expect("writing to a String cannot fail");
        }
    }
    let out = format!(
        "/// The Rust code blocks of README.md, in order ({n} blocks).\n\
         #[allow(unused_variables, unused_imports, clippy::all)]\n\
         pub async fn readme_rust() -> Result<(), Box<dyn std::error::Error>> {{\n{body}    Ok(())\n}}\n",
        n = blocks.len()
    );
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"))
        .join("readme_rust.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// The fenced code blocks tagged `lang`, each with the README line it starts on.
fn blocks(text: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        match &mut cur {
            None => {
                if let Some(tag) = t.strip_prefix("```") {
                    if tag.trim() == lang {
                        cur = Some((i + 2, String::new()));
                    }
                }
            }
            Some((_, code)) if !t.starts_with("```") => {
                code.push_str(line);
                code.push('\n');
            }
            Some(_) => out.extend(cur.take()),
        }
    }
    assert!(cur.is_none(), "README.md: unterminated ```{lang} block");
    out
}
