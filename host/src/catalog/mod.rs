//! The pieces a server offers, looked up by name: the example pieces this build ships
//! and every `.wasm` in `DATA_DIR/pieces/` (loaded once at start), plus the pieces
//! installed as data (`install.rs`), which change while the server runs.
//!
//! What callers see is a snapshot: [`Catalog::pieces`] hands out the pieces on offer
//! now ([`Pieces`], behind an `Arc`), so a call already running keeps the version it
//! started with while the catalog moves on to the next one.

mod install;

pub use install::{
    InstallError, InstallReport, Installer, MAX_COMPONENT_BYTES, POLL_INTERVAL, PieceUsers,
    UninstallError,
};

use crate::runtime::{LoadedPiece, Runtime};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The pieces on offer, swapped whole when the installed pieces change.
#[derive(Default)]
pub struct Catalog {
    current: RwLock<Arc<Pieces>>,
}

/// The pieces on offer at one moment, by name. A caller holds one for the length of
/// what it does, so a call keeps the version it started with while the catalog moves
/// on.
#[derive(Clone, Default)]
pub struct Pieces {
    by_name: BTreeMap<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    piece: LoadedPiece,
    source: Source,
}

/// Where a loaded piece comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file read at start: an example this build ships or `DATA_DIR/pieces/*.wasm`.
    File(PathBuf),
    /// Installed as data (the database), live.
    Installed,
}

/// A piece file that could not be loaded; the server starts without it.
#[derive(Debug)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl Catalog {
    /// Loads `files` in order. A piece whose name is already taken (an installed copy
    /// of an example, two files of one piece) is not loaded: it is skipped with the
    /// reason, never silently swapped for the other.
    pub async fn load(runtime: &Runtime, files: &[PathBuf]) -> (Catalog, Vec<Skipped>) {
        let mut pieces = Pieces::default();
        let mut skipped = Vec::new();
        for path in files {
            match runtime.load_file(path).await {
                Ok(piece) => {
                    let name = piece.info().name.clone();
                    if let Some(first) = pieces.by_name.get(&name) {
                        skipped.push(Skipped {
                            path: path.clone(),
                            reason: format!(
                                "a piece named `{name}` is already loaded from {}; remove one \
                                 of them (or rename the piece)",
                                first.source
                            ),
                        });
                        continue;
                    }
                    let source = Source::File(path.clone());
                    pieces.by_name.insert(name, Entry { piece, source });
                }
                Err(e) => skipped.push(Skipped {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        let catalog = Catalog {
            current: RwLock::new(Arc::new(pieces)),
        };
        (catalog, skipped)
    }

    /// The pieces on offer now.
    pub fn pieces(&self) -> Arc<Pieces> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the installed pieces with `installed` (files stay as they are); returns
    /// the installed pieces not offered because a file's piece has the name.
    fn set_installed(&self, installed: Vec<LoadedPiece>) -> Vec<(String, PathBuf)> {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = Pieces {
            by_name: current
                .by_name
                .iter()
                .filter(|(_, e)| matches!(e.source, Source::File(_)))
                .map(|(n, e)| (n.clone(), e.clone()))
                .collect(),
        };
        let mut shadowed = Vec::new();
        for piece in installed {
            let name = piece.info().name.clone();
            if let Some(Entry {
                source: Source::File(path),
                ..
            }) = next.by_name.get(&name)
            {
                shadowed.push((name, path.clone()));
                continue;
            }
            let source = Source::Installed;
            next.by_name.insert(name, Entry { piece, source });
        }
        *current = Arc::new(next);
        shadowed
    }
}

impl Pieces {
    /// The piece named `name`.
    pub fn get(&self, name: &str) -> Option<&LoadedPiece> {
        self.by_name.get(name).map(|e| &e.piece)
    }

    /// Where the piece named `name` comes from.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.by_name.get(name).map(|e| &e.source)
    }

    /// Every piece, by name.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedPiece> {
        self.by_name.values().map(|e| &e.piece)
    }

    /// The sandbox pool's slots in use and in all (the pieces share one runtime).
    pub fn runtime_slots(&self) -> (usize, usize) {
        self.iter().next().map_or((0, 0), LoadedPiece::slots)
    }

    /// How many pieces are loaded.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no piece is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Installed => f.write_str("the installed pieces (the database)"),
        }
    }
}

/// The files a server loads: the example pieces (when this build's files are still
/// there), then `data_dir/pieces/*.wasm` in name order.
pub fn piece_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = crate::examples::EXAMPLE_PIECES
        .iter()
        .map(|(_, p)| PathBuf::from(p))
        .filter(|p| p.is_file())
        .collect();
    let mut installed: Vec<PathBuf> = std::fs::read_dir(data_dir.join("pieces"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    installed.sort();
    files.extend(installed);
    files
}
