//! The data directory (the SQLite database, the generated key file, `pieces/`, the
//! compiled-component cache): created private to this user (0700), and an existing one
//! others can read or enter is reported at startup.

use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist; warns when
/// an existing one is open to the group or others.
pub fn prepare(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let fail =
        |e: std::io::Error| format!("cannot create the data directory {}: {e}", dir.display());
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
        return Ok(());
    }
    let mode = std::fs::metadata(dir).map_err(fail)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data directory is open to other users; `chmod 700` it (it holds the database and the key file)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_new_data_directory_is_private_to_its_user() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("a").join("data");
        super::prepare(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // An existing one is left as it is (and reported).
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        super::prepare(&dir).expect("kept");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
