//! The FUSE side: the library's read-only [`FileSystem`] trait served through the `fuser`
//! crate (pure Rust, mounted with `fusermount3`; no libfuse needed).
//!
//! Every request is answered straight from the library on the request's own thread (the
//! session runs several): lookups, attributes, directory listings (kept per open directory so
//! that a directory of a million entries is listed once, not once per `readdir` call, and the
//! last [`LISTINGS`] listings indexed by name so that `lookup` in a large directory is cheap),
//! positioned reads, symlink targets. Inode numbers come from the bounded
//! [`InodeTable`](super::inodes::InodeTable). Images do not change while mounted, so
//! attributes and data are cached by the kernel for an hour (`FOPEN_KEEP_CACHE`). Writes are
//! refused (`EROFS`): the mount is read-only.

use super::inodes::{InodeTable, Key};
use super::views::View;
use crate::error::Error;
use crate::fs::{DirEntry, FileSystem, FileType, Metadata};
use fuser::{
    Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, Request,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the kernel may keep attributes and names.
const TTL: Duration = Duration::from_secs(3600);
/// The root's inode number (FUSE's fixed number).
const ROOT: u64 = 1;
/// View number of the virtual root of an `--all` mount.
const VIRTUAL: u32 = u32::MAX;
/// Most directories open at once (each holds its listing).
pub const MAX_OPEN_DIRS: usize = 4096;
/// Largest single read answered.
const MAX_READ: u32 = 1 << 20;
/// Directory listings kept for lookups (most recently used).
const LISTINGS: usize = 64;

/// A directory's entries with an index by name.
struct Listing {
    entries: Vec<DirEntry>,
    by_name: HashMap<String, usize>,
}

/// A mounted image.
pub struct ImageFs {
    views: Vec<View>,
    inodes: Mutex<InodeTable>,
    dirs: Mutex<HashMap<u64, Arc<Listing>>>,
    /// Recently listed directories: many file systems answer `lookup` by listing the
    /// directory, so a walk of a large directory would list it once per entry.
    listings: Mutex<Vec<(Key, Arc<Listing>)>>,
    next_fh: AtomicU64,
    uid: u32,
    gid: u32,
    mounted_at: SystemTime,
}

impl ImageFs {
    /// A file system over `views`; `uid`/`gid` own nodes whose format records no owner.
    pub fn new(views: Vec<View>, uid: u32, gid: u32) -> Self {
        let virtual_root = !(views.len() == 1 && views[0].name.is_empty());
        let mut inodes = InodeTable::new(ROOT + 1 + views.len() as u64);
        if virtual_root {
            inodes.pin(ROOT, (VIRTUAL, 0));
            for (i, v) in views.iter().enumerate() {
                inodes.pin(ROOT + 1 + i as u64, (i as u32, v.fs.root()));
            }
        } else {
            inodes.pin(ROOT, (0, views[0].fs.root()));
        }
        ImageFs {
            views,
            inodes: Mutex::new(inodes),
            dirs: Mutex::new(HashMap::new()),
            listings: Mutex::new(Vec::new()),
            next_fh: AtomicU64::new(1),
            uid,
            gid,
            mounted_at: SystemTime::now(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, InodeTable> {
        self.inodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key(&self, ino: INodeNo) -> Result<Key, Errno> {
        self.table().get(ino.0).ok_or(Errno::ESTALE)
    }

    fn fs(&self, view: u32) -> Result<&Arc<dyn FileSystem>, Errno> {
        self.views
            .get(view as usize)
            .map(|v| &v.fs)
            .ok_or(Errno::ENOENT)
    }

    fn root_attr(&self) -> FileAttr {
        FileAttr {
            ino: INodeNo(ROOT),
            size: 0,
            blocks: 0,
            atime: self.mounted_at,
            mtime: self.mounted_at,
            ctime: self.mounted_at,
            crtime: self.mounted_at,
            kind: fuser::FileType::Directory,
            perm: 0o555,
            nlink: 2 + self.views.len() as u32,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn attr(&self, ino: u64, m: &Metadata) -> FileAttr {
        let time = |t: Option<crate::time::Timestamp>| {
            t.map_or(UNIX_EPOCH, crate::time::Timestamp::to_system_time)
        };
        let mtime = time(m.mtime);
        let default_perm = match m.file_type {
            FileType::Directory => 0o555,
            FileType::Symlink => 0o777,
            _ => 0o444,
        };
        let rdev = m.rdev.map_or(0, |(ma, mi)| {
            u32::try_from(libc::makedev(ma, mi)).unwrap_or(0)
        });
        FileAttr {
            ino: INodeNo(ino),
            size: m.size,
            blocks: m.size.div_ceil(512),
            atime: m.atime.map_or(mtime, |t| t.to_system_time()),
            mtime,
            ctime: m.ctime.map_or(mtime, |t| t.to_system_time()),
            crtime: m.btime.map_or(mtime, |t| t.to_system_time()),
            kind: kind(m.file_type),
            perm: m.mode.map_or(default_perm, |p| (p & 0o7777) as u16),
            nlink: m.nlink.unwrap_or(if m.is_dir() { 2 } else { 1 }).max(1),
            uid: m.uid.unwrap_or(self.uid),
            gid: m.gid.unwrap_or(self.gid),
            rdev,
            blksize: 4096,
            flags: 0,
        }
    }

    fn getattr_key(&self, ino: u64, key: Key) -> Result<FileAttr, Errno> {
        if key.0 == VIRTUAL {
            return Ok(self.root_attr());
        }
        let m = self.fs(key.0)?.metadata(key.1).map_err(errno)?;
        Ok(self.attr(ino, &m))
    }

    /// The listing of a directory, from the cache or freshly read.
    fn listing(&self, key: Key) -> Result<Arc<Listing>, Errno> {
        {
            let mut cache = self.listings.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
                let hit = cache.remove(i);
                let l = hit.1.clone();
                cache.push(hit);
                return Ok(l);
            }
        }
        let entries = self.read_listing(key)?;
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let l = Arc::new(Listing { entries, by_name });
        let mut cache = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= LISTINGS {
            cache.remove(0);
        }
        cache.push((key, l.clone()));
        Ok(l)
    }

    fn read_listing(&self, key: Key) -> Result<Vec<DirEntry>, Errno> {
        if key.0 == VIRTUAL {
            return Ok(self
                .views
                .iter()
                .map(|v| DirEntry {
                    name: v.name.clone(),
                    node: v.fs.root(),
                    file_type: FileType::Directory,
                })
                .collect());
        }
        let entries = self.fs(key.0)?.read_dir(key.1).map_err(errno)?;
        // Names the kernel cannot take are left out (a hostile image may hold them).
        Ok(entries
            .into_iter()
            .filter(|e| {
                !e.name.is_empty()
                    && e.name != "."
                    && e.name != ".."
                    && !e.name.contains(['/', '\0'])
            })
            .collect())
    }

    /// The view a directory's entries belong to.
    fn child_view(&self, key: Key, index: usize) -> u32 {
        if key.0 == VIRTUAL {
            index as u32
        } else {
            key.0
        }
    }
}

fn kind(t: FileType) -> fuser::FileType {
    match t {
        FileType::File => fuser::FileType::RegularFile,
        FileType::Directory => fuser::FileType::Directory,
        FileType::Symlink => fuser::FileType::Symlink,
        FileType::CharDevice => fuser::FileType::CharDevice,
        FileType::BlockDevice => fuser::FileType::BlockDevice,
        FileType::Fifo => fuser::FileType::NamedPipe,
        FileType::Socket => fuser::FileType::Socket,
    }
}

fn errno(e: Error) -> Errno {
    Errno::from_i32(e.errno())
}

impl Filesystem for ImageFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let result = (|| {
            let pkey = self.key(parent)?;
            let name = name.to_str().ok_or(Errno::ENOENT)?;
            let key = if pkey.0 == VIRTUAL {
                let i = self
                    .views
                    .iter()
                    .position(|v| v.name == name)
                    .ok_or(Errno::ENOENT)?;
                (i as u32, self.views[i].fs.root())
            } else {
                let listing = self.listing(pkey)?;
                let node = match listing.by_name.get(name) {
                    Some(&i) => listing.entries[i].node,
                    // Named streams (`file:stream`) are found by the file system only.
                    None if name.contains(':') => self
                        .fs(pkey.0)?
                        .lookup(pkey.1, name)
                        .map_err(errno)?
                        .ok_or(Errno::ENOENT)?,
                    None => return Err(Errno::ENOENT),
                };
                (pkey.0, node)
            };
            let ino = self.table().ino(key, true);
            match self.getattr_key(ino, key) {
                Ok(a) => Ok(a),
                Err(e) => {
                    self.table().forget(ino, 1);
                    Err(e)
                }
            }
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.table().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.key(ino).and_then(|k| self.getattr_key(ino.0, k)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let r = self.key(ino).and_then(|k| {
            if k.0 == VIRTUAL {
                return Err(Errno::EINVAL);
            }
            self.fs(k.0)?.read_link(k.1).map_err(errno)
        });
        match r {
            Ok(t) => reply.data(t.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        match self.key(ino) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.key(ino).and_then(|k| {
            let fs = self.fs(k.0)?;
            let mut buf = vec![0u8; size.min(MAX_READ) as usize];
            let mut done = 0;
            while done < buf.len() {
                let n = fs
                    .read_at(k.1, offset + done as u64, &mut buf[done..])
                    .map_err(errno)?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            buf.truncate(done);
            Ok(buf)
        });
        match r {
            Ok(b) => reply.data(&b),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self.key(ino).and_then(|k| self.listing(k));
        match r {
            Ok(list) => {
                let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
                if dirs.len() >= MAX_OPEN_DIRS {
                    return reply.error(Errno::EMFILE);
                }
                let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
                dirs.insert(fh, list);
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let list = self
            .dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh.0)
            .cloned();
        let (Some(list), Ok(key)) = (list, self.key(ino)) else {
            return reply.error(Errno::EBADF);
        };
        let mut i = offset;
        loop {
            let full = match i {
                0 => reply.add(ino, 1, fuser::FileType::Directory, "."),
                1 => reply.add(ino, 2, fuser::FileType::Directory, ".."),
                _ => {
                    let Some(e) = usize::try_from(i - 2)
                        .ok()
                        .and_then(|j| list.entries.get(j))
                    else {
                        break;
                    };
                    let view = self.child_view(key, (i - 2) as usize);
                    let child = self.table().ino((view, e.node), false);
                    reply.add(INodeNo(child), i + 1, kind(e.file_type), &e.name)
                }
            };
            if full {
                break;
            }
            i += 1;
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let (total, used) = self
            .views
            .iter()
            .filter_map(|v| v.fs.usage())
            .fold((0u64, 0u64), |(t, u), x| (t + x.total, u + x.used));
        let free = total.saturating_sub(used) / 4096;
        reply.statfs(total / 4096, free, free, 0, 0, 4096, 255, 4096);
    }
}
