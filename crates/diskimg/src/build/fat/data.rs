//! File data, in cluster order: small files are read ahead by a few threads so their reads
//! overlap, and written in large batches (adjacent files are adjacent in the volume); large
//! host files are copied by the kernel. Memory stays bounded by the read-ahead and the batch.

use super::sink::{Batch, Sink, changed};
use crate::build::iso::IsoProgress;
use crate::build::tree::{FileTree, Kind, NodeIndex, Source};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use std::fs::File;
use std::sync::mpsc::sync_channel;

/// Threads reading small files ahead of the writer.
const READERS: usize = 4;
/// Files each reader may hold ready.
const READ_AHEAD: usize = 16;
/// Files at least this large are copied without a buffer.
const LARGE: u64 = 1 << 20;

/// A file to write: its node, size, byte offset in the image and the bytes it takes there
/// (whole clusters).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placed {
    pub node: NodeIndex,
    pub size: u64,
    pub offset: u64,
    pub span: u64,
}

/// What a reader hands the writer: a small file's bytes, or `None` for a large file the
/// writer copies itself.
type Ready = Result<Option<Vec<u8>>>;

/// Writes every file's data.
pub(crate) fn write_files(
    tree: &FileTree,
    list: &[Placed],
    sink: &mut dyn Sink,
    progress: &dyn IsoProgress,
) -> Result<()> {
    std::thread::scope(|s| {
        let mut queues = Vec::with_capacity(READERS);
        for k in 0..READERS {
            let (tx, rx) = sync_channel::<Ready>(READ_AHEAD);
            queues.push(rx);
            s.spawn(move || {
                for f in list.iter().skip(k).step_by(READERS) {
                    let ready = if f.size < LARGE {
                        read_whole(tree, f.node, f.size).map(Some)
                    } else {
                        Ok(None)
                    };
                    if tx.send(ready).is_err() {
                        return;
                    }
                }
            });
        }
        let mut batch = Batch::new();
        for (i, f) in list.iter().enumerate() {
            let ready = queues[i % READERS]
                .recv()
                .map_err(|_| Error::new(ErrorKind::Io, "a reader thread stopped"))??;
            match ready {
                Some(data) => batch.push(sink, f.offset, &data, f.span)?,
                None => {
                    batch.flush(sink)?;
                    copy_large(tree, f, sink)?;
                }
            }
            progress.advance(f.size);
        }
        batch.flush(sink)
    })
}

fn source(tree: &FileTree, node: NodeIndex) -> Result<&Source> {
    match &tree.node(node).kind {
        Kind::File { source, .. } => Ok(source),
        _ => Err(Error::invalid_input(format!(
            "{} is not a regular file",
            tree.path(node)
        ))),
    }
}

/// Opens a host file and checks it still has the size that was planned.
fn open_checked(path: &std::path::Path, size: u64) -> Result<File> {
    let f = File::open(path).map_err(Error::from).in_file(path)?;
    let now = f.metadata().map_err(Error::from).in_file(path)?.len();
    if now != size {
        return Err(changed(path, size));
    }
    Ok(f)
}

fn read_whole(tree: &FileTree, node: NodeIndex, size: u64) -> Result<Vec<u8>> {
    source(tree, node)?.read_head(size, size)
}

fn copy_large(tree: &FileTree, f: &Placed, sink: &mut dyn Sink) -> Result<()> {
    let src = source(tree, f.node)?;
    if let Source::Host(path) = src {
        let file = open_checked(path, f.size)?;
        return sink.copy_file(&file, path, f.size, f.offset);
    }
    let reader = src.reader(f.size)?;
    let mut buf = vec![0u8; LARGE as usize];
    let mut done = 0u64;
    while done < f.size {
        let n = (f.size - done).min(LARGE) as usize;
        reader.read_exact_at(done, &mut buf[..n])?;
        sink.write_at(f.offset + done, &buf[..n])?;
        done += n as u64;
    }
    Ok(())
}
