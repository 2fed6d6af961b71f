//! The piece guide cannot rot: every Rust excerpt in `docs/piece-guide.md` names the
//! file it is from (`<!-- from: PATH -->` on the line before it), and its lines stand
//! in that file, in order and together (indentation, blank lines and doc-comment
//! markers aside). Those files are pieces the suite builds and runs, and SDK doc tests.

use std::path::Path;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A text's lines as compared: trimmed, `//!` and `///` markers dropped, blanks left out.
fn normalized(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let l = l.trim();
            l.strip_prefix("//!")
                .or_else(|| l.strip_prefix("///"))
                .unwrap_or(l)
                .trim()
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// Each Rust excerpt of a Markdown text: (the `from:` path, if named; its text).
fn excerpts(markdown: &str) -> Vec<(Option<String>, String)> {
    let mut found = Vec::new();
    let mut previous = "";
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```rust" {
            let from = previous
                .trim()
                .strip_prefix("<!-- from:")
                .and_then(|r| r.strip_suffix("-->"))
                .map(|p| p.trim().to_owned());
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            found.push((from, body.join("\n")));
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    found
}

#[test]
fn every_rust_excerpt_of_the_piece_guide_stands_in_the_file_it_names() {
    let guide = std::fs::read_to_string(Path::new(ROOT).join("docs/piece-guide.md"))
        .expect("docs/piece-guide.md");
    let excerpts = excerpts(&guide);
    assert!(excerpts.len() >= 9, "{} excerpts", excerpts.len());
    for (from, body) in excerpts {
        let from = from.unwrap_or_else(|| panic!("an excerpt names no source:\n{body}"));
        let source = std::fs::read_to_string(Path::new(ROOT).join(&from))
            .unwrap_or_else(|e| panic!("{from}: {e}"));
        let (want, have) = (normalized(&body), normalized(&source));
        assert!(
            have.windows(want.len()).any(|w| w == want.as_slice()),
            "this excerpt is not in {from}:\n{body}"
        );
    }
}

#[test]
fn an_excerpt_that_drifted_from_its_source_is_caught() {
    let markdown = "<!-- from: x -->\n```rust\nlet a = 1;\nlet b = 2;\n```\n";
    let found = excerpts(markdown);
    assert_eq!(found.len(), 1);
    let want = normalized(&found[0].1);
    let source = normalized("fn f() {\n    let a = 1;\n\n    let b = 3;\n}\n");
    assert!(!source.windows(want.len()).any(|w| w == want.as_slice()));
    let same = normalized("//! let a = 1;\n//! let b = 2;\n");
    assert!(same.windows(want.len()).any(|w| w == want.as_slice()));
}
