//! The pieces a server offers: the example pieces this build ships plus every `.wasm`
//! in `DATA_DIR/pieces/`, loaded once at start and looked up by name.

use crate::runtime::{LoadedPiece, Runtime};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Loaded pieces by name.
#[derive(Clone, Default)]
pub struct Catalog {
    pieces: BTreeMap<String, LoadedPiece>,
    /// The file each piece was loaded from.
    paths: BTreeMap<String, PathBuf>,
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
        let mut catalog = Catalog::default();
        let mut skipped = Vec::new();
        let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
        for path in files {
            match runtime.load_file(path).await {
                Ok(piece) => {
                    let name = piece.info().name.clone();
                    if let Some(first) = from.get(&name) {
                        skipped.push(Skipped {
                            path: path.clone(),
                            reason: format!(
                                "a piece named `{name}` is already loaded from {}; remove one \
                                 of them (or rename the piece)",
                                first.display()
                            ),
                        });
                        continue;
                    }
                    from.insert(name.clone(), path.clone());
                    catalog.paths.insert(name.clone(), path.clone());
                    catalog.pieces.insert(name, piece);
                }
                Err(e) => skipped.push(Skipped {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        (catalog, skipped)
    }

    /// The piece named `name`.
    pub fn get(&self, name: &str) -> Option<&LoadedPiece> {
        self.pieces.get(name)
    }

    /// The file the piece named `name` was loaded from.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }

    /// Every piece, by name.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedPiece> {
        self.pieces.values()
    }

    /// The sandbox pool's slots in use and in all (the pieces share one runtime).
    pub fn runtime_slots(&self) -> (usize, usize) {
        self.pieces
            .values()
            .next()
            .map_or((0, 0), LoadedPiece::slots)
    }

    /// How many pieces are loaded.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether no piece is loaded.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
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
