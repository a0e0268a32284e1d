//! L5: an image mounted read-only with FUSE (feature `fuse`), and unmounting (always built).
//!
//! ```text
//!   mount()      views.rs: the file systems shown (one, or every view with --all)
//!     └─ ImageFs   fuse.rs: FileSystem trait -> FUSE requests, several threads
//!          └─ InodeTable  inodes.rs: bounded FUSE inode <-> (view, NodeId) map
//!   unmount()    unmount.rs: fusermount3 -u, or umount(2) as root
//! ```
//!
//! The mount is read-only, answered straight from the library (no extraction), and ends when
//! [`Unmounter::unmount`] is called (Ctrl-C in the CLI) or someone runs `diskimg umount` /
//! `fusermount3 -u`; [`Mounted::wait`] returns then.

#[cfg(feature = "fuse")]
mod fuse;
#[cfg(feature = "fuse")]
mod inodes;
mod unmount;
#[cfg(feature = "fuse")]
mod views;

pub use unmount::unmount;

#[cfg(feature = "fuse")]
pub use self::fuse::{ImageFs, MAX_OPEN_DIRS};
#[cfg(feature = "fuse")]
pub use inodes::MAX_INODES;
#[cfg(feature = "fuse")]
pub use views::{View, views};

#[cfg(feature = "fuse")]
pub use session::{MountOptions, Mounted, Unmounter, mount};

#[cfg(feature = "fuse")]
mod session {
    use super::{ImageFs, views};
    use crate::error::{Error, ErrorKind, Result};
    use crate::image::{Image, Selection};
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    /// What to mount and how.
    #[derive(Debug, Clone, Default)]
    pub struct MountOptions {
        /// Every partition and view as a folder.
        pub all: bool,
        /// The file system, when not `all`.
        pub selection: Selection,
        /// Let other users in (modes are then enforced by the kernel).
        pub allow_other: bool,
        /// Threads answering requests (0: twice the cores, at most 8).
        pub threads: usize,
    }

    /// A live mount.
    pub struct Mounted {
        thread: JoinHandle<std::io::Result<()>>,
        unmounter: Unmounter,
        mountpoint: PathBuf,
    }

    /// Ends a mount from any thread.
    #[derive(Clone)]
    pub struct Unmounter(Arc<Mutex<fuser::SessionUnmounter>>);

    impl Unmounter {
        /// Unmounts; the session then ends and [`Mounted::wait`] returns.
        pub fn unmount(&self) -> Result<()> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unmount()
                .map_err(Error::from)
        }
    }

    impl Mounted {
        /// A handle that unmounts.
        pub fn unmounter(&self) -> Unmounter {
            self.unmounter.clone()
        }

        /// Where it is mounted.
        pub fn mountpoint(&self) -> &Path {
            &self.mountpoint
        }

        /// Blocks until the file system is unmounted.
        pub fn wait(self) -> Result<()> {
            match self.thread.join() {
                Ok(r) => r.map_err(|e| Error::from(e).with_file(&self.mountpoint)),
                Err(_) => Err(Error::new(ErrorKind::Io, "the FUSE session panicked")),
            }
        }
    }

    /// Mounts `image` on `mountpoint` and serves it on background threads.
    pub fn mount(image: &Image, mountpoint: &Path, opts: &MountOptions) -> Result<Mounted> {
        let views = views(image, opts.all, &opts.selection)?;
        // SAFETY: getuid/getgid only read the process's credentials.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let fs = ImageFs::new(views, uid, gid);
        let name = image
            .path
            .file_name()
            .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
        let mut options = vec![
            fuser::MountOption::RO,
            fuser::MountOption::FSName(format!("diskimg:{}", name.replace([',', ' '], "_"))),
            fuser::MountOption::Subtype("diskimg".into()),
            fuser::MountOption::NoDev,
            fuser::MountOption::NoSuid,
        ];
        let mut config = fuser::Config::default();
        if opts.allow_other {
            options.push(fuser::MountOption::DefaultPermissions);
            config.acl = fuser::SessionACL::All;
        }
        config.mount_options = options;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        config.n_threads = Some(if opts.threads == 0 {
            (cores * 2).min(8)
        } else {
            opts.threads
        });
        config.clone_fd = true;
        let mut session = fuser::Session::new(fs, mountpoint, &config).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot mount: {e}"))
                .with_source(e)
                .with_file(mountpoint)
        })?;
        let unmounter = Unmounter(Arc::new(Mutex::new(session.unmount_callable())));
        let thread = std::thread::Builder::new()
            .name("diskimg-fuse".into())
            .spawn(move || session.run())
            .map_err(Error::from)?;
        Ok(Mounted {
            thread,
            unmounter,
            mountpoint: mountpoint.to_path_buf(),
        })
    }
}
