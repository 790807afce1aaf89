//! Writing result files so that a failed or interrupted write never leaves a file that looks
//! complete: write beside the target, then rename over it.

use std::io::Write;
use std::path::Path;

use proxysched::Failure;

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail = |what: &str, e: std::io::Error| {
        Failure::input(format!("cannot {what} {}: {e}", path.display()))
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Failure::input(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail("write", e)
    })
}
