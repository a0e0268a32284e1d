//! Passwords of encrypted images, kept out of messages and overwritten when dropped.

/// A password. `Debug` never shows it; the bytes are zeroed when the last copy is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    /// A password from its bytes (UTF-8 as typed; a trailing newline is the caller's to
    /// remove).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Password(bytes.into())
    }

    /// The password's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads a password from the first line of `text` (a password file or standard input),
    /// without its line ending.
    pub fn from_first_line(text: &[u8]) -> Self {
        let line = text.split(|&c| c == b'\n').next().unwrap_or_default();
        Password(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // A volatile write, so that the zeroing is not optimised away.
            // SAFETY: `b` is a valid, aligned, exclusive reference to a byte of the vector.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_and_hidden_debug() {
        let p = Password::from_first_line(b"s3cret\r\nignored\n");
        assert_eq!(p.as_bytes(), b"s3cret");
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert_eq!(Password::from_first_line(b"").as_bytes(), b"");
    }
}
