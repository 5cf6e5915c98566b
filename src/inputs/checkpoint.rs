//! File read positions, saved atomically under `data_dir` once the records before them are delivered.
//!
//! A file is known by device and inode plus a hash of its first bytes: the inode says which file,
//! the hash catches an inode reused by a new file after the old one was deleted.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How many leading bytes identify a file's content.
pub const HEAD_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// The identity of a file's content: hash of its first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Head {
    pub len: u32,
    pub hash: u64,
}

impl Head {
    pub fn of(bytes: &[u8]) -> Self {
        // FNV-1a: stable across Rust versions, unlike the std hasher.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Head {
            len: bytes.len() as u32,
            hash: h,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub path: PathBuf,
    pub id: FileId,
    pub head: Head,
    /// Everything before this byte has been delivered.
    pub offset: u64,
}

/// All checkpoints of one input.
#[derive(Debug)]
pub struct Checkpoints {
    file: PathBuf,
    entries: HashMap<FileId, Entry>,
    dirty: bool,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    files: Vec<Entry>,
}

impl Checkpoints {
    /// Loads `data_dir/checkpoints/<input>.json`; a missing file is an empty set, a corrupt one is
    /// reported and then treated as empty (records are re-read, never skipped).
    pub fn load(data_dir: &Path, input: &str) -> std::io::Result<Self> {
        let dir = data_dir.join("checkpoints");
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{}.json", sanitize(input)));
        let mut entries = HashMap::new();
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<OnDisk>(&bytes) {
                Ok(d) => {
                    for e in d.files {
                        entries.insert(e.id, e);
                    }
                }
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "checkpoint file is corrupt; starting without it")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Checkpoints {
            file,
            entries,
            dirty: false,
        })
    }

    pub fn get(&self, id: FileId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn set(&mut self, entry: Entry) {
        if self.entries.get(&entry.id) != Some(&entry) {
            self.entries.insert(entry.id, entry);
            self.dirty = true;
        }
    }

    /// Forgets files that are gone, so the file does not grow forever.
    pub fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|_, e| keep(e));
        self.dirty |= self.entries.len() != before;
    }

    /// Writes to a temporary file, syncs it and renames it over the old one: a crash leaves either
    /// the old or the new checkpoints, never a torn file.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut files: Vec<Entry> = self.entries.values().cloned().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let body = serde_json::to_vec_pretty(&OnDisk { version: 1, files })
            .map_err(std::io::Error::other)?;
        let tmp = self.file.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.file)?;
        if let Some(dir) = self.file.parent() {
            // Make the rename itself durable.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.dirty = false;
        Ok(())
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpoints::load(dir.path(), "app/x").unwrap();
        let id = FileId { dev: 1, ino: 2 };
        c.set(Entry {
            path: "/a.log".into(),
            id,
            head: Head::of(b"hello"),
            offset: 42,
        });
        c.save().unwrap();
        let c2 = Checkpoints::load(dir.path(), "app/x").unwrap();
        assert_eq!(c2.get(id).unwrap().offset, 42);
        assert!(dir.path().join("checkpoints/app_x.json").exists());
    }

    #[test]
    fn corrupt_file_is_treated_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("checkpoints")).unwrap();
        std::fs::write(dir.path().join("checkpoints/a.json"), b"{not json").unwrap();
        let c = Checkpoints::load(dir.path(), "a").unwrap();
        assert!(c.get(FileId { dev: 0, ino: 0 }).is_none());
    }
}
