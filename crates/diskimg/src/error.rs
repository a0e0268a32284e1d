//! The one public error type of the library.
//!
//! An [`Error`] is a stable [`ErrorKind`] plus context (the format being read, the byte offset of
//! the structure, the path inside the image, the operation) and an optional source error.
//! `Corrupt` (the image is broken) and `Unsupported` (the image is fine, we lack a feature) are
//! kept apart so that users and tests can tell them apart.

use std::fmt;
use std::io;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a small stable set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system reported an I/O failure.
    Io,
    /// No known format recognised the data.
    NotRecognized,
    /// The image contradicts its own format: a structure is malformed.
    Corrupt,
    /// The image is valid but uses a feature this library does not implement.
    Unsupported,
    /// A read or write reached past the end of a device or structure.
    OutOfBounds,
    /// A path, partition or item does not exist.
    NotFound,
    /// The caller asked for something that makes no sense (bad option, bad path).
    InvalidInput,
    /// The device or file system cannot be written.
    ReadOnly,
    /// The target has no room left.
    NoSpace,
    /// A size, count or depth exceeded a named safety limit.
    LimitExceeded,
    /// The image is encrypted and no (or a wrong) password was given.
    NeedsPassword,
    /// The output already exists and the caller did not ask to replace it.
    AlreadyExists,
}

impl ErrorKind {
    /// A short lower-case name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "I/O error",
            ErrorKind::NotRecognized => "not recognised",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::OutOfBounds => "out of bounds",
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::ReadOnly => "read-only",
            ErrorKind::NoSpace => "no space left",
            ErrorKind::LimitExceeded => "limit exceeded",
            ErrorKind::NeedsPassword => "password needed",
            ErrorKind::AlreadyExists => "already exists",
        }
    }
}

/// Where an error happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The format being read (`iso9660`, `qcow2`, ...).
    pub format: Option<&'static str>,
    /// The structure being read (`directory record`, `L2 table`, ...).
    pub structure: Option<&'static str>,
    /// Byte offset of that structure on the device that holds it.
    pub offset: Option<u64>,
    /// Path inside the image, when a file or directory was involved.
    pub path: Option<String>,
    /// The file on the host (image, backing file, output).
    pub file: Option<String>,
}

/// The library's error: a kind, a message, context and an optional source.
pub struct Error {
    kind: ErrorKind,
    message: String,
    context: Box<Context>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            context: Box::default(),
            source: None,
        }
    }

    /// A structure of `format` at `offset` is malformed.
    pub fn corrupt(
        format: &'static str,
        structure: &'static str,
        offset: u64,
        message: impl Into<String>,
    ) -> Self {
        Error::new(ErrorKind::Corrupt, message)
            .with_format(format)
            .with_structure(structure)
            .with_offset(offset)
    }

    /// A feature of `format` is not implemented.
    pub fn unsupported(format: &'static str, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message).with_format(format)
    }

    /// A named safety limit was exceeded while reading `structure` at `offset`.
    pub fn limit(
        format: &'static str,
        structure: &'static str,
        offset: u64,
        message: impl Into<String>,
    ) -> Self {
        Error::new(ErrorKind::LimitExceeded, message)
            .with_format(format)
            .with_structure(structure)
            .with_offset(offset)
    }

    /// Something named by the caller does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    /// The caller asked for something invalid.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// A read past the end of a device.
    pub fn out_of_bounds(offset: u64, len: usize, size: u64) -> Self {
        Error::new(
            ErrorKind::OutOfBounds,
            format!("read of {len} bytes at byte {offset} runs past the end ({size} bytes)"),
        )
        .with_offset(offset)
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where it happened.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Sets the format, unless an inner layer already named one.
    pub fn with_format(mut self, format: &'static str) -> Self {
        self.context.format.get_or_insert(format);
        self
    }

    /// Sets the structure being read, unless already set.
    pub fn with_structure(mut self, structure: &'static str) -> Self {
        self.context.structure.get_or_insert(structure);
        self
    }

    /// Sets the byte offset, unless already set.
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.context.offset.get_or_insert(offset);
        self
    }

    /// Sets the path inside the image, unless already set.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        if self.context.path.is_none() {
            self.context.path = Some(path.into());
        }
        self
    }

    /// Sets the host file, unless already set.
    pub fn with_file(mut self, file: impl AsRef<std::path::Path>) -> Self {
        if self.context.file.is_none() {
            self.context.file = Some(file.as_ref().display().to_string());
        }
        self
    }

    /// Attaches a source error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The nearest errno for FUSE and NBD front-ends.
    pub fn errno(&self) -> i32 {
        match self.kind {
            ErrorKind::NotFound => 2,                                // ENOENT
            ErrorKind::InvalidInput => 22,                           // EINVAL
            ErrorKind::ReadOnly => 30,                               // EROFS
            ErrorKind::NoSpace => 28,                                // ENOSPC
            ErrorKind::Unsupported => 95,                            // EOPNOTSUPP
            ErrorKind::AlreadyExists => 17,                          // EEXIST
            ErrorKind::NeedsPassword => 13,                          // EACCES
            ErrorKind::OutOfBounds | ErrorKind::LimitExceeded => 27, // EFBIG
            ErrorKind::Io | ErrorKind::Corrupt | ErrorKind::NotRecognized => {
                self.io_source()
                    .and_then(io::Error::raw_os_error)
                    .unwrap_or(5) // EIO
            }
        }
    }

    /// The operating-system error underneath, if any.
    pub fn io_source(&self) -> Option<&io::Error> {
        self.source
            .as_deref()
            .and_then(|s| s.downcast_ref::<io::Error>())
    }
}

/// A copy keeps kind, message and context; a source becomes its text.
impl Clone for Error {
    fn clone(&self) -> Self {
        Error {
            kind: self.kind,
            message: self.message.clone(),
            context: self.context.clone(),
            source: self.source.as_ref().map(|s| {
                Box::new(SourceText(s.to_string())) as Box<dyn std::error::Error + Send + Sync>
            }),
        }
    }
}

/// The text of a source error, kept when an error is cloned.
#[derive(Debug)]
struct SourceText(String);

impl fmt::Display for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceText {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.context;
        if let Some(file) = &c.file {
            write!(f, "{file}: ")?;
        }
        match (c.format, c.structure) {
            (Some(format), Some(structure)) => {
                write!(f, "{} {format} {structure}", self.kind.as_str())?
            }
            (Some(format), None) => write!(f, "{} {format}", self.kind.as_str())?,
            (None, Some(structure)) => write!(f, "{} {structure}", self.kind.as_str())?,
            (None, None) => write!(f, "{}", self.kind.as_str())?,
        }
        if let Some(offset) = c.offset {
            write!(f, " at byte {offset}")?;
        }
        if let Some(path) = &c.path {
            write!(f, " ({path})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(source) = &self.source {
            let text = source.to_string();
            if !self.message.contains(&text) {
                write!(f, ": {text}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(Ok(ours)) = err.into_inner().map(|inner| inner.downcast::<Error>()) {
                return *ours;
            }
            return Error::new(ErrorKind::Io, "I/O error");
        }
        let kind = match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            io::ErrorKind::StorageFull => ErrorKind::NoSpace,
            io::ErrorKind::ReadOnlyFilesystem => ErrorKind::ReadOnly,
            io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
            io::ErrorKind::UnexpectedEof => ErrorKind::OutOfBounds,
            _ => ErrorKind::Io,
        };
        Error::new(kind, err.to_string()).with_source(err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match err.kind {
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            ErrorKind::ReadOnly => io::ErrorKind::ReadOnlyFilesystem,
            ErrorKind::NoSpace => io::ErrorKind::StorageFull,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::OutOfBounds => io::ErrorKind::UnexpectedEof,
            ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
            ErrorKind::NeedsPassword => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

/// Adds context to the error inside a `Result`.
pub trait ResultExt<T> {
    /// Names the path inside the image.
    fn at_path(self, path: impl FnOnce() -> String) -> Result<T>;
    /// Names the host file.
    fn in_file(self, file: &std::path::Path) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn at_path(self, path: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.with_path(path()))
    }

    fn in_file(self, file: &std::path::Path) -> Result<T> {
        self.map_err(|e| e.with_file(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_format_structure_offset_and_path() {
        let e = Error::corrupt(
            "iso9660",
            "directory record",
            34816,
            "length 3 is too short",
        )
        .with_path("/Fotos")
        .with_file("photos.iso");
        assert_eq!(
            e.to_string(),
            "photos.iso: corrupt iso9660 directory record at byte 34816 (/Fotos): length 3 is too short"
        );
    }

    #[test]
    fn inner_context_wins() {
        let e = Error::corrupt("qcow2", "L2 table", 10, "bad").with_offset(99);
        assert_eq!(e.context().offset, Some(10));
    }

    #[test]
    fn round_trips_through_io_error() {
        let e = Error::corrupt("iso9660", "path table", 7, "x");
        let io: io::Error = e.into();
        let back: Error = io.into();
        assert_eq!(back.kind(), ErrorKind::Corrupt);
        assert_eq!(back.context().offset, Some(7));
    }
}
