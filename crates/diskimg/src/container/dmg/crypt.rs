//! Encrypted disk images (`encrcdsa`, version 2): reading and writing.
//!
//! An encrypted image is a header followed by the plain image (a UDIF image, usually)
//! encrypted in blocks. Layout (big-endian; the `vfdecrypt` notes and libmodi):
//!
//! ```text
//! 0x00 "encrcdsa"  0x08 version (2)  0x0c IV size (16)  0x10 mode (5)  0x14 algorithm
//!      (0x80000001 AES)  0x18 key bits (128/256)  0x1c PRF (91, HMAC-SHA1)  0x20 PRF key
//!      bits (160)  0x24 UUID (16)  0x34 block size  0x38 data size (u64)  0x40 data offset
//! 0x48 key slots: count, then per slot type (1 = password), offset (u64), size (u64)
//! password slot: 0x00 KDF (103, PBKDF2)  0x04 PRNG (0)  0x08 iterations  0x0c salt length
//!      0x10 salt (32)  0x30 blob IV size  0x34 blob IV (32)  0x54 blob key bits (192)
//!      0x58 blob algorithm (17, 3DES)  0x5c padding (7, PKCS#7)  0x60 mode (6, CBC)
//!      0x64 blob length  0x68 encrypted blob
//! ```
//!
//! Unlocking: PBKDF2-HMAC-SHA1(password, salt, iterations) gives a 24-byte 3DES key, which
//! decrypts the blob (3DES-EDE-CBC, PKCS#7 padding) into the AES key and the HMAC-SHA1 key
//! (then the marker `CKIE`). Block `n` is AES-CBC encrypted with the IV
//! HMAC-SHA1(hmac key, n as a big-endian u32), truncated to 16 bytes. A wrong password gives
//! a blob that does not unpad or lacks the marker: [`ErrorKind::NeedsPassword`].
//!
//! Not supported: version 1 (`cdsaencr` trailers), certificate (public-key) slots.

use super::FORMAT as DMG_FORMAT;
use crate::container::bytes::{be32, be64};
use crate::container::password::Password;
use crate::container::{Container, OpenContext};
use crate::device::{BlockDevice, DeviceRef};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Confidence, FormatDescriptor, Opener, ProbeInput};
use crate::io::{ReadAt, WriteAt, clamp_len, read_vec};
use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit, KeyIvInit};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;
use std::sync::{Arc, Mutex};

/// Format name.
pub const FORMAT: &str = "encrcdsa";
/// Signature of a version 2 header.
pub const MAGIC: &[u8; 8] = b"encrcdsa";
/// Signature at the end of a version 1 image.
pub const V1_MAGIC: &[u8; 8] = b"cdsaencr";
/// Most PBKDF2 iterations accepted (hdiutil uses a few hundred thousand).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Most key slots.
pub const MAX_KEY_SLOTS: u32 = 16;
/// Largest password slot read.
pub const MAX_SLOT_LEN: u64 = 4096;
/// Iterations used when writing.
pub const WRITE_ITERATIONS: u32 = 250_000;
/// Block size used when writing (as hdiutil).
pub const WRITE_BLOCK_SIZE: u32 = 512;
/// Where the data starts in images we write.
const WRITE_DATA_OFFSET: u64 = 4096;
/// The marker after the keys in an unwrapped blob.
const KEY_MARKER: &[u8; 4] = b"CKIE";

type HmacSha1 = Hmac<Sha1>;

/// Encrypted images.
pub static DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: FORMAT,
    description: "encrypted Apple disk image (encrcdsa v2)",
    extensions: &["dmg"],
    probe,
    opener: Opener::Container(open),
    create: None,
    check: None,
};

fn probe(input: &ProbeInput<'_>) -> Confidence {
    if input.head.starts_with(MAGIC) {
        return Confidence::CERTAIN;
    }
    let size = input.device.size();
    let mut tail = [0u8; 8];
    if size >= 8 && input.device.read_exact_at(size - 8, &mut tail).is_ok() && &tail == V1_MAGIC {
        return Confidence::LIKELY;
    }
    Confidence::NONE
}

fn open(file: DeviceRef, ctx: &OpenContext) -> Result<Box<dyn Container>> {
    Ok(Box::new(Encrypted::open(file, ctx.password.as_ref())?))
}

/// The fields of a version 2 header that matter.
#[derive(Debug, Clone)]
pub struct EncrHeader {
    /// AES key bits (128 or 256).
    pub key_bits: u32,
    /// HMAC key bits (160).
    pub hmac_bits: u32,
    /// Bytes per encrypted block.
    pub block_size: u32,
    /// Bytes of plain data.
    pub data_size: u64,
    /// Where the encrypted blocks start.
    pub data_offset: u64,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// PBKDF2 salt.
    pub salt: Vec<u8>,
    /// 3DES IV of the key blob.
    pub blob_iv: Vec<u8>,
    /// The encrypted key blob.
    pub blob: Vec<u8>,
    /// The image's UUID.
    pub uuid: [u8; 16],
}

fn corrupt(at: u64, msg: impl Into<String>) -> Error {
    Error::corrupt(FORMAT, "header", at, msg)
}

impl EncrHeader {
    /// Reads and checks the header of `file`.
    pub fn read(file: &dyn ReadAt) -> Result<Self> {
        let size = file.size();
        let h = read_vec(file, 0, size.min(0x60), 0x60)?;
        if h.len() < 0x60 || &h[..8] != MAGIC {
            if size >= 8 {
                let tail = read_vec(file, size - 8, 8, 8)?;
                if tail == V1_MAGIC {
                    return Err(Error::unsupported(
                        FORMAT,
                        "version 1 encrypted images (cdsaencr) are not supported; convert them \
                         with hdiutil to a version 2 image",
                    ));
                }
            }
            return Err(corrupt(0, "no 'encrcdsa' signature"));
        }
        let version = be32(&h, 8);
        if version != 2 {
            return Err(Error::unsupported(
                FORMAT,
                format!("encrypted image header version {version} (only 2)"),
            ));
        }
        let key_bits = be32(&h, 0x18);
        let hmac_bits = be32(&h, 0x20);
        if !matches!(key_bits, 128 | 256) || hmac_bits != 160 || be32(&h, 0x14) != 0x8000_0001 {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "cipher {:#x} with {key_bits}-bit keys and a {hmac_bits}-bit HMAC key (only \
                     AES-128/256 with HMAC-SHA1)",
                    be32(&h, 0x14)
                ),
            ));
        }
        let block_size = be32(&h, 0x34);
        if !block_size.is_power_of_two() || !(512..=1 << 20).contains(&block_size) {
            return Err(corrupt(0x34, format!("block size {block_size}")));
        }
        let data_size = be64(&h, 0x38);
        let data_offset = be64(&h, 0x40);
        let blocks = data_size.div_ceil(u64::from(block_size));
        let end = blocks
            .checked_mul(u64::from(block_size))
            .and_then(|b| b.checked_add(data_offset));
        if end.is_none_or(|e| e > size) || blocks > u64::from(u32::MAX) {
            return Err(corrupt(
                0x38,
                format!(
                    "{data_size} bytes of data at {data_offset} do not fit in the file ({size} bytes)"
                ),
            ));
        }
        let slots = be32(&h, 0x48);
        if slots > MAX_KEY_SLOTS {
            return Err(Error::limit(
                FORMAT,
                "header",
                0x48,
                format!("{slots} key slots"),
            ));
        }
        let table = read_vec(
            file,
            0x4c,
            u64::from(slots) * 20,
            u64::from(MAX_KEY_SLOTS) * 20,
        )?;
        let slot = (0..slots as usize)
            .map(|i| &table[i * 20..i * 20 + 20])
            .find(|s| be32(s, 0) == 1)
            .ok_or_else(|| {
                Error::unsupported(
                    FORMAT,
                    "the image has no password key slot (it is encrypted with a certificate)",
                )
            })?;
        let (slot_at, slot_len) = (be64(slot, 4), be64(slot, 12));
        let p = read_vec(file, slot_at, slot_len, MAX_SLOT_LEN)?;
        if p.len() < 0x68 {
            return Err(corrupt(slot_at, "password key slot is too short"));
        }
        if be32(&p, 0) != 103 || be32(&p, 4) != 0 {
            return Err(Error::unsupported(
                FORMAT,
                format!("key derivation {} (only PBKDF2, 103)", be32(&p, 0)),
            ));
        }
        let iterations = be32(&p, 8);
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(Error::limit(
                FORMAT,
                "password key slot",
                slot_at + 8,
                format!("{iterations} PBKDF2 iterations (limit {MAX_ITERATIONS})"),
            ));
        }
        let salt_len = be32(&p, 0x0c) as usize;
        let iv_len = be32(&p, 0x30) as usize;
        if salt_len > 32 || iv_len != 8 {
            return Err(corrupt(
                slot_at,
                format!("salt of {salt_len} bytes, blob IV of {iv_len} bytes"),
            ));
        }
        if (
            be32(&p, 0x54),
            be32(&p, 0x58),
            be32(&p, 0x5c),
            be32(&p, 0x60),
        ) != (192, 17, 7, 6)
        {
            return Err(Error::unsupported(
                FORMAT,
                "a key blob not wrapped with 3DES-CBC and PKCS#7 padding",
            ));
        }
        let blob_len = be32(&p, 0x64) as usize;
        if blob_len % 8 != 0 || blob_len == 0 || 0x68 + blob_len > p.len() {
            return Err(corrupt(
                slot_at + 0x64,
                format!("key blob of {blob_len} bytes"),
            ));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&h[0x24..0x34]);
        Ok(EncrHeader {
            key_bits,
            hmac_bits,
            block_size,
            data_size,
            data_offset,
            iterations,
            salt: p[0x10..0x10 + salt_len].to_vec(),
            blob_iv: p[0x34..0x34 + iv_len].to_vec(),
            blob: p[0x68..0x68 + blob_len].to_vec(),
            uuid,
        })
    }

    /// Unwraps the AES and HMAC keys with `password`.
    pub fn unlock(&self, password: &Password) -> Result<Keys> {
        let mut kek = [0u8; 24];
        pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), &self.salt, self.iterations, &mut kek);
        let dec = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&kek, &self.blob_iv)
            .map_err(|_| corrupt(0, "bad key blob IV"))?;
        let mut blob = self.blob.clone();
        let wrong = || {
            Error::new(
                ErrorKind::NeedsPassword,
                "wrong password: the image's key cannot be unlocked with it",
            )
            .with_format(FORMAT)
        };
        let plain = dec
            .decrypt_padded_mut::<Pkcs7>(&mut blob)
            .map_err(|_| wrong())?;
        let (k, m) = ((self.key_bits / 8) as usize, (self.hmac_bits / 8) as usize);
        if plain.len() < k + m
            || (plain.len() >= k + m + 4 && &plain[k + m..k + m + 4] != KEY_MARKER)
        {
            return Err(wrong());
        }
        let keys = Keys::new(&plain[..k], &plain[k..k + m]);
        blob.fill(0);
        keys
    }
}

/// The keys of an unlocked image.
#[derive(Clone)]
pub struct Keys {
    aes: AesKey,
    hmac: HmacSha1,
}

#[derive(Clone)]
enum AesKey {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
}

impl Keys {
    fn new(aes_key: &[u8], hmac_key: &[u8]) -> Result<Self> {
        let aes = match aes_key.len() {
            16 => AesKey::Aes128(Box::new(
                aes::Aes128::new_from_slice(aes_key).map_err(|_| corrupt(0, "AES key"))?,
            )),
            _ => AesKey::Aes256(Box::new(
                aes::Aes256::new_from_slice(aes_key).map_err(|_| corrupt(0, "AES key"))?,
            )),
        };
        let hmac =
            <HmacSha1 as Mac>::new_from_slice(hmac_key).map_err(|_| corrupt(0, "HMAC key"))?;
        Ok(Keys { aes, hmac })
    }

    fn iv(&self, block: u32) -> [u8; 16] {
        let mut m = self.hmac.clone();
        m.update(&block.to_be_bytes());
        let d = m.finalize().into_bytes();
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&d[..16]);
        iv
    }

    /// Decrypts block `n` in place.
    pub fn decrypt(&self, n: u32, data: &mut [u8]) -> Result<()> {
        let iv = self.iv(n);
        let r = match &self.aes {
            AesKey::Aes128(c) => {
                cbc::Decryptor::<aes::Aes128>::inner_iv_init((**c).clone(), &iv.into())
                    .decrypt_padded_mut::<NoPadding>(data)
                    .map(|_| ())
            }
            AesKey::Aes256(c) => {
                cbc::Decryptor::<aes::Aes256>::inner_iv_init((**c).clone(), &iv.into())
                    .decrypt_padded_mut::<NoPadding>(data)
                    .map(|_| ())
            }
        };
        r.map_err(|_| corrupt(0, "an encrypted block is not a whole number of AES blocks"))
    }

    /// Encrypts block `n` in place.
    pub fn encrypt(&self, n: u32, data: &mut [u8]) -> Result<()> {
        let iv = self.iv(n);
        let len = data.len();
        let r = match &self.aes {
            AesKey::Aes128(c) => {
                cbc::Encryptor::<aes::Aes128>::inner_iv_init((**c).clone(), &iv.into())
                    .encrypt_padded_mut::<NoPadding>(data, len)
                    .map(|_| ())
            }
            AesKey::Aes256(c) => {
                cbc::Encryptor::<aes::Aes256>::inner_iv_init((**c).clone(), &iv.into())
                    .encrypt_padded_mut::<NoPadding>(data, len)
                    .map(|_| ())
            }
        };
        r.map_err(|_| Error::invalid_input("a block is not a whole number of AES blocks"))
    }
}

/// The plain bytes of an encrypted image.
pub struct DecryptedDevice {
    file: DeviceRef,
    header: EncrHeader,
    keys: Keys,
}

impl ReadAt for DecryptedDevice {
    fn size(&self) -> u64 {
        self.header.data_size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = clamp_len(offset, buf.len(), self.size());
        let bs = u64::from(self.header.block_size);
        let mut block = vec![0u8; bs as usize];
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let index = pos / bs;
            let within = (pos % bs) as usize;
            let take = (bs as usize - within).min(n - done);
            self.file
                .read_exact_at(self.header.data_offset + index * bs, &mut block)?;
            // Checked at open: the number of blocks fits in a u32.
            self.keys.decrypt(index as u32, &mut block)?;
            buf[done..done + take].copy_from_slice(&block[within..within + take]);
            done += take;
        }
        Ok(n)
    }
}

impl BlockDevice for DecryptedDevice {}

/// An opened encrypted image: its device is the plain image inside.
pub struct Encrypted {
    device: Arc<DecryptedDevice>,
}

impl Encrypted {
    /// Unlocks the image in `file` with `password`.
    pub fn open(file: DeviceRef, password: Option<&Password>) -> Result<Self> {
        let header = EncrHeader::read(file.as_ref())?;
        let Some(password) = password else {
            return Err(Error::new(
                ErrorKind::NeedsPassword,
                format!(
                    "the image is encrypted (AES-{}): give its password with --password-file FILE \
                     or --password-stdin",
                    header.key_bits
                ),
            )
            .with_format(FORMAT));
        };
        let keys = header.unlock(password)?;
        Ok(Encrypted {
            device: Arc::new(DecryptedDevice { file, header, keys }),
        })
    }
}

impl Container for Encrypted {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn device(&self) -> DeviceRef {
        self.device.clone()
    }

    fn details(&self) -> serde_json::Value {
        let h = &self.device.header;
        json!({
            "version": 2,
            "cipher": format!("AES-{}-CBC", h.key_bits),
            "block_size": h.block_size,
            "data_size": h.data_size,
            "data_offset": h.data_offset,
            "kdf": "PBKDF2-HMAC-SHA1",
            "iterations": h.iterations,
            "uuid": crate::container::bytes::uuid_be(&h.uuid),
        })
    }
}

/// How to encrypt a new image.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// The password.
    pub password: Password,
    /// AES key bits: 128 or 256.
    pub key_bits: u32,
    /// PBKDF2 iterations.
    pub iterations: u32,
}

impl EncryptOptions {
    /// AES-256, as `hdiutil -encryption` chooses by default today.
    pub fn aes256(password: Password) -> Self {
        EncryptOptions {
            password,
            key_bits: 256,
            iterations: WRITE_ITERATIONS,
        }
    }
}

fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::new(ErrorKind::Io, format!("no random numbers: {e}")))
}

/// A sink that encrypts what is written to it, in order, into an encrypted image in `inner`.
/// Writes must come in increasing order without gaps (as the UDIF writer makes them);
/// [`EncryptingSink::finish`] writes the last block and the header.
pub struct EncryptingSink {
    inner: Arc<dyn WriteAt>,
    keys: Keys,
    header: Vec<u8>,
    state: Mutex<SinkState>,
}

struct SinkState {
    /// Plain bytes written so far.
    written: u64,
    /// The plain bytes of the block being filled.
    pending: Vec<u8>,
    finished: bool,
}

impl EncryptingSink {
    /// Starts an encrypted image in `inner`.
    pub fn new(inner: Arc<dyn WriteAt>, opts: &EncryptOptions) -> Result<Self> {
        if !matches!(opts.key_bits, 128 | 256) {
            return Err(
                Error::invalid_input("AES key bits must be 128 or 256").with_format(DMG_FORMAT)
            );
        }
        let mut key = vec![0u8; (opts.key_bits / 8) as usize];
        let mut hmac_key = [0u8; 20];
        let mut salt = [0u8; 20];
        let mut iv = [0u8; 8];
        let mut uuid = [0u8; 16];
        random(&mut key)?;
        random(&mut hmac_key)?;
        random(&mut salt)?;
        random(&mut iv)?;
        random(&mut uuid)?;
        let keys = Keys::new(&key, &hmac_key)?;
        // The key blob: AES key, HMAC key, marker; 3DES-CBC with PKCS#7 padding.
        let mut blob = Vec::with_capacity(64);
        blob.extend_from_slice(&key);
        blob.extend_from_slice(&hmac_key);
        blob.extend_from_slice(KEY_MARKER);
        let plain_len = blob.len();
        blob.resize(
            plain_len.next_multiple_of(8) + if plain_len % 8 == 0 { 8 } else { 0 },
            0,
        );
        let mut kek = [0u8; 24];
        pbkdf2::pbkdf2_hmac::<Sha1>(opts.password.as_bytes(), &salt, opts.iterations, &mut kek);
        let enc = cbc::Encryptor::<des::TdesEde3>::new_from_slices(&kek, &iv)
            .map_err(|_| Error::invalid_input("3DES key"))?;
        let wrapped = enc
            .encrypt_padded_mut::<Pkcs7>(&mut blob, plain_len)
            .map_err(|_| Error::invalid_input("key blob padding"))?
            .to_vec();
        key.fill(0);
        hmac_key.fill(0);
        kek.fill(0);
        let mut h = vec![0u8; WRITE_DATA_OFFSET as usize];
        let put32 =
            |h: &mut [u8], off: usize, v: u32| h[off..off + 4].copy_from_slice(&v.to_be_bytes());
        let put64 =
            |h: &mut [u8], off: usize, v: u64| h[off..off + 8].copy_from_slice(&v.to_be_bytes());
        h[..8].copy_from_slice(MAGIC);
        put32(&mut h, 0x08, 2);
        put32(&mut h, 0x0c, 16);
        put32(&mut h, 0x10, 5);
        put32(&mut h, 0x14, 0x8000_0001);
        put32(&mut h, 0x18, opts.key_bits);
        put32(&mut h, 0x1c, 91);
        put32(&mut h, 0x20, 160);
        h[0x24..0x34].copy_from_slice(&uuid);
        put32(&mut h, 0x34, WRITE_BLOCK_SIZE);
        // 0x38 data size: written by finish.
        put64(&mut h, 0x40, WRITE_DATA_OFFSET);
        put32(&mut h, 0x48, 1);
        put32(&mut h, 0x4c, 1);
        put64(&mut h, 0x50, 0x60);
        put64(&mut h, 0x58, 0x268);
        let p = 0x60;
        put32(&mut h, p, 103);
        put32(&mut h, p + 0x08, opts.iterations);
        put32(&mut h, p + 0x0c, salt.len() as u32);
        h[p + 0x10..p + 0x10 + salt.len()].copy_from_slice(&salt);
        put32(&mut h, p + 0x30, iv.len() as u32);
        h[p + 0x34..p + 0x34 + iv.len()].copy_from_slice(&iv);
        put32(&mut h, p + 0x54, 192);
        put32(&mut h, p + 0x58, 17);
        put32(&mut h, p + 0x5c, 7);
        put32(&mut h, p + 0x60, 6);
        put32(&mut h, p + 0x64, wrapped.len() as u32);
        h[p + 0x68..p + 0x68 + wrapped.len()].copy_from_slice(&wrapped);
        Ok(EncryptingSink {
            inner,
            keys,
            header: h,
            state: Mutex::new(SinkState {
                written: 0,
                pending: Vec::with_capacity(WRITE_BLOCK_SIZE as usize),
                finished: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Encrypts and writes whole blocks of `plain`, the first being block `first`.
    fn write_blocks(&self, first: u64, plain: &mut [u8]) -> Result<()> {
        let bs = WRITE_BLOCK_SIZE as usize;
        for (i, b) in plain.chunks_mut(bs).enumerate() {
            let n = u32::try_from(first + i as u64)
                .map_err(|_| Error::invalid_input("encrypted images hold at most 2^32 blocks"))?;
            self.keys.encrypt(n, b)?;
        }
        self.inner
            .write_at(WRITE_DATA_OFFSET + first * bs as u64, plain)
    }

    /// Writes the last block and the header; the image is complete.
    pub fn finish(&self) -> Result<()> {
        let mut s = self.lock();
        if s.finished {
            return Ok(());
        }
        let bs = u64::from(WRITE_BLOCK_SIZE);
        if !s.pending.is_empty() {
            let mut last = std::mem::take(&mut s.pending);
            last.resize(bs as usize, 0);
            self.write_blocks(s.written / bs, &mut last)?;
        }
        let mut h = self.header.clone();
        h[0x38..0x40].copy_from_slice(&s.written.to_be_bytes());
        self.inner.write_at(0, &h)?;
        s.finished = true;
        Ok(())
    }
}

impl ReadAt for EncryptingSink {
    fn size(&self) -> u64 {
        self.lock().written
    }

    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize> {
        Err(Error::unsupported(
            FORMAT,
            "an encrypted output cannot be read back while it is written",
        ))
    }
}

impl WriteAt for EncryptingSink {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let mut s = self.lock();
        if s.finished || offset != s.written {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "encrypted outputs are written in order (a write at {offset}, {} written)",
                    s.written
                ),
            ));
        }
        let bs = WRITE_BLOCK_SIZE as usize;
        let mut data = std::mem::take(&mut s.pending);
        data.extend_from_slice(buf);
        let whole = data.len() / bs * bs;
        let first = (s.written - (s.written % bs as u64)) / bs as u64;
        if whole > 0 {
            self.write_blocks(first, &mut data[..whole])?;
        }
        s.pending = data[whole..].to_vec();
        s.written += buf.len() as u64;
        Ok(())
    }

    fn set_size(&self, size: u64) -> Result<()> {
        if size == self.lock().written {
            return Ok(());
        }
        Err(Error::unsupported(
            FORMAT,
            "an encrypted output cannot be resized",
        ))
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{MemorySink, MemorySource};

    fn fast(password: &str, bits: u32) -> EncryptOptions {
        EncryptOptions {
            password: Password::new(password),
            key_bits: bits,
            iterations: 1000,
        }
    }

    #[test]
    fn round_trip_and_wrong_password() {
        for bits in [128, 256] {
            let plain: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
            let mem = Arc::new(MemorySink::new());
            let sink = EncryptingSink::new(mem.clone(), &fast("pw", bits)).unwrap();
            sink.write_at(0, &plain[..700]).unwrap();
            sink.write_at(700, &plain[700..]).unwrap();
            assert!(sink.write_at(10, b"x").is_err());
            sink.finish().unwrap();
            let bytes = mem.to_vec();
            assert_eq!(&bytes[..8], MAGIC);
            assert!(bytes[4096..].windows(16).all(|w| w != &plain[..16]));
            let file: DeviceRef = Arc::new(MemorySource::new(bytes));
            let e = Encrypted::open(file.clone(), Some(&Password::new("pw"))).unwrap();
            let dev = e.device();
            assert_eq!(dev.size(), 5000);
            let mut back = vec![0u8; 5000];
            dev.read_exact_at(0, &mut back).unwrap();
            assert_eq!(back, plain);
            let mut mid = [0u8; 100];
            dev.read_exact_at(1000, &mut mid).unwrap();
            assert_eq!(&mid[..], &plain[1000..1100]);
            for wrong in [Some(Password::new("nope")), None] {
                let err = Encrypted::open(file.clone(), wrong.as_ref()).err().unwrap();
                assert_eq!(err.kind(), ErrorKind::NeedsPassword);
            }
        }
    }

    #[test]
    fn hostile_headers_are_errors() {
        let mem = Arc::new(MemorySink::new());
        let sink = EncryptingSink::new(mem.clone(), &fast("pw", 256)).unwrap();
        sink.write_at(0, &[1u8; 600]).unwrap();
        sink.finish().unwrap();
        let good = mem.to_vec();
        let cases: Vec<(usize, &[u8])> = vec![
            (0x08, &[0, 0, 0, 1]),                // version
            (0x34, &[0, 0, 0, 3]),                // block size
            (0x38, &[0xff; 8]),                   // data size
            (0x48, &[0, 0, 1, 0]),                // key slots
            (0x50, &[0, 0, 0, 0, 0x7f, 0, 0, 0]), // slot offset
            (0x68, &[0xff, 0xff, 0xff, 0xff]),    // iterations
            (0xc4, &[0, 0, 0x10, 0]),             // blob length
        ];
        for (off, bytes) in cases {
            let mut b = good.clone();
            b[off..off + bytes.len()].copy_from_slice(bytes);
            let file: DeviceRef = Arc::new(MemorySource::new(b));
            let err = Encrypted::open(file, Some(&Password::new("pw")))
                .err()
                .unwrap();
            assert_ne!(err.kind(), ErrorKind::NeedsPassword, "offset {off:#x}");
        }
    }
}
