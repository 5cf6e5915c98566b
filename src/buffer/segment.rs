//! The on-disk format of a disk buffer.
//!
//! A buffer directory holds segment files `<id>.seg` (20 digits, so names sort by id) and
//! `read.pos`. A segment is the 8-byte magic `SLUICEB1` followed by frames; a frame is one batch:
//!
//! ```text
//! u32 LE payload length | u32 LE CRC-32 of the payload | payload (event::encode_batch)
//! ```
//!
//! Frames are only appended, so a crash can leave at most a torn last frame; a bad checksum or an
//! impossible length marks where a segment stops being trustworthy, and everything from there is
//! cut. `read.pos` is `u64 LE segment id | u64 LE offset | u32 LE CRC-32 of those 16 bytes`.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"SLUICEB1";
/// Where the first frame of a segment starts.
pub const HEADER: u64 = MAGIC.len() as u64;
pub const FRAME_HEADER: u64 = 8;
/// Larger lengths are corruption, not batches (a batch is a few MB at most).
pub const MAX_FRAME: u32 = 1 << 30;
const POS_FILE: &str = "read.pos";

/// A place in the buffer: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub seg: u64,
    pub off: u64,
}

pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Segment ids in `dir`, oldest first.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Creates an empty segment (magic only).
pub fn create_segment(dir: &Path, id: u64, sync: bool) -> io::Result<File> {
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .append(true)
        .read(true)
        .open(segment_path(dir, id))?;
    f.write_all(MAGIC)?;
    if sync {
        f.sync_data()?;
        sync_dir(dir)?;
    }
    Ok(f)
}

/// Makes a file creation, rename or removal in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Appends one frame holding `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What is at an offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole frame; its payload is in the buffer and the next frame starts at `next`.
    Ok { next: u64 },
    /// Nothing more: the offset is the end.
    End,
    /// Bytes that are not a whole valid frame; the segment is good only up to the offset.
    Bad(&'static str),
}

/// Reads the frame at `off` of a segment whose trusted bytes end at `limit`.
pub fn read_frame(f: &File, off: u64, limit: u64, payload: &mut Vec<u8>) -> io::Result<Frame> {
    if off >= limit {
        return Ok(Frame::End);
    }
    if limit - off < FRAME_HEADER {
        return Ok(Frame::Bad("torn frame header"));
    }
    let mut head = [0u8; FRAME_HEADER as usize];
    f.read_exact_at(&mut head, off)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_FRAME {
        return Ok(Frame::Bad("impossible frame length"));
    }
    let next = off + FRAME_HEADER + u64::from(len);
    if next > limit {
        return Ok(Frame::Bad("torn frame"));
    }
    payload.clear();
    payload.resize(len as usize, 0);
    f.read_exact_at(payload, off + FRAME_HEADER)?;
    if crc32fast::hash(payload) != crc {
        return Ok(Frame::Bad("checksum mismatch"));
    }
    Ok(Frame::Ok { next })
}

/// The state of one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub file_len: u64,
    /// Bytes up to the end of the last good frame (0 when the header itself is bad).
    pub good_len: u64,
    pub frames: u64,
    /// Frames starting at or after `from`.
    pub frames_after: u64,
    /// Where and why the segment stops being trustworthy.
    pub bad: Option<(u64, &'static str)>,
}

/// Checks every frame of a segment; `from` counts the frames not yet read.
pub fn scan_segment(path: &Path, from: u64) -> io::Result<Scan> {
    let f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let mut scan = Scan {
        file_len,
        good_len: 0,
        frames: 0,
        frames_after: 0,
        bad: None,
    };
    let mut magic = [0u8; MAGIC.len()];
    if file_len < HEADER || f.read_exact_at(&mut magic, 0).is_err() || &magic != MAGIC {
        scan.bad = Some((0, "missing or bad segment header"));
        return Ok(scan);
    }
    let mut off = HEADER;
    let mut payload = Vec::new();
    loop {
        match read_frame(&f, off, file_len, &mut payload)? {
            Frame::Ok { next } => {
                scan.frames += 1;
                if off >= from {
                    scan.frames_after += 1;
                }
                off = next;
            }
            Frame::End => break,
            Frame::Bad(why) => {
                scan.bad = Some((off, why));
                break;
            }
        }
    }
    scan.good_len = off;
    Ok(scan)
}

/// Cuts a segment to its good bytes; a segment with a bad header is removed.
pub fn repair_segment(path: &Path, scan: &Scan) -> io::Result<()> {
    if scan.good_len < HEADER {
        return std::fs::remove_file(path);
    }
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(scan.good_len)?;
    f.sync_all()
}

/// The saved read position; `None` when there is none or it is unreadable.
pub fn load_pos(dir: &Path) -> io::Result<Option<Pos>> {
    let bytes = match std::fs::read(dir.join(POS_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() != 20 {
        return Ok(None);
    }
    let (body, crc) = bytes.split_at(16);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Ok(None);
    }
    let mut seg = [0u8; 8];
    let mut off = [0u8; 8];
    seg.copy_from_slice(&body[..8]);
    off.copy_from_slice(&body[8..]);
    Ok(Some(Pos {
        seg: u64::from_le_bytes(seg),
        off: u64::from_le_bytes(off),
    }))
}

/// Saves the read position atomically (temporary file, rename).
pub fn save_pos(dir: &Path, pos: Pos, sync: bool) -> io::Result<()> {
    let mut body = Vec::with_capacity(20);
    body.extend_from_slice(&pos.seg.to_le_bytes());
    body.extend_from_slice(&pos.off.to_le_bytes());
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join("read.pos.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&body)?;
    if sync {
        f.sync_data()?;
    }
    std::fs::rename(&tmp, dir.join(POS_FILE))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}
