//! `sluice buffer check DIR [--repair]`: what a disk buffer holds, and where it is corrupt.
//! Run it with Sluice stopped; `--repair` cuts corrupt tails the way start-up recovery does.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::segment::{self, HEADER};

/// What was found in one buffer directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub dir: PathBuf,
    pub segments: usize,
    pub bytes: u64,
    pub frames: u64,
    /// Frames after the saved read position: not yet acknowledged by the output.
    pub unread_frames: u64,
    pub read_pos: Option<segment::Pos>,
    /// (segment file, offset, reason, bytes after the offset).
    pub corrupt: Vec<(PathBuf, u64, &'static str, u64)>,
    pub repaired: bool,
}

/// Checks `dir`: one buffer directory (it holds `*.seg`), or a directory of them such as
/// `data_dir/buffers` or `data_dir`.
pub fn check(dir: &Path, repair: bool) -> std::io::Result<Vec<Report>> {
    let mut dirs = Vec::new();
    find_buffers(dir, &mut dirs, 0)?;
    dirs.sort();
    dirs.into_iter().map(|d| check_one(&d, repair)).collect()
}

fn find_buffers(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> std::io::Result<()> {
    let mut is_buffer = dir.join("read.pos").exists();
    let mut subdirs = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "seg") {
            is_buffer = true;
        } else if e.file_type()?.is_dir() {
            subdirs.push(p);
        }
    }
    if is_buffer {
        out.push(dir.to_path_buf());
    } else if depth < 2 {
        for s in subdirs {
            find_buffers(&s, out, depth + 1)?;
        }
    }
    Ok(())
}

fn check_one(dir: &Path, repair: bool) -> std::io::Result<Report> {
    let read_pos = segment::load_pos(dir)?;
    let mut r = Report {
        dir: dir.to_path_buf(),
        read_pos,
        ..Report::default()
    };
    for id in segment::list_segments(dir)? {
        let path = segment::segment_path(dir, id);
        let from = match read_pos {
            Some(p) if id < p.seg => u64::MAX,
            Some(p) if id == p.seg => p.off,
            _ => HEADER,
        };
        let scan = segment::scan_segment(&path, from)?;
        r.segments += 1;
        r.bytes += scan.file_len;
        r.frames += scan.frames;
        r.unread_frames += scan.frames_after;
        if let Some((at, why)) = scan.bad {
            r.corrupt
                .push((path.clone(), at, why, scan.file_len - scan.good_len));
            if repair {
                segment::repair_segment(&path, &scan)?;
                r.repaired = true;
            }
        }
    }
    Ok(r)
}

/// Prints reports; returns whether any corruption is left (not repaired).
pub fn print(reports: &[Report], w: &mut dyn Write) -> std::io::Result<bool> {
    let mut left = false;
    if reports.is_empty() {
        writeln!(w, "no disk buffer found")?;
    }
    for r in reports {
        writeln!(w, "{}", r.dir.display())?;
        writeln!(
            w,
            "  segments: {}, bytes: {}, frames: {}, unread frames: {}",
            r.segments, r.bytes, r.frames, r.unread_frames
        )?;
        match r.read_pos {
            Some(p) => writeln!(w, "  read position: segment {} offset {}", p.seg, p.off)?,
            None => writeln!(w, "  read position: none (every segment is unread)")?,
        }
        for (path, at, why, cut) in &r.corrupt {
            let action = if r.repaired { "cut" } else { "would cut" };
            writeln!(
                w,
                "  corrupt: {} at offset {at}: {why} ({action} {cut} bytes)",
                path.display()
            )?;
        }
        if r.corrupt.is_empty() {
            writeln!(w, "  ok")?;
        } else if !r.repaired {
            left = true;
        }
    }
    Ok(left)
}
