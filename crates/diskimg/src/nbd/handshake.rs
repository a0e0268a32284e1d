//! The fixed newstyle handshake and option haggling (proto.md, "Handshake" and "Option
//! types").
//!
//! Served options: `NBD_OPT_EXPORT_NAME`, `NBD_OPT_ABORT`, `NBD_OPT_LIST`, `NBD_OPT_INFO`,
//! `NBD_OPT_GO`, `NBD_OPT_STRUCTURED_REPLY`, `NBD_OPT_LIST_META_CONTEXT` and
//! `NBD_OPT_SET_META_CONTEXT` (`base:allocation` only). `NBD_OPT_STARTTLS` is refused with
//! `NBD_REP_ERR_POLICY` (listen on loopback or tunnel); other options get
//! `NBD_REP_ERR_UNSUP`. Option payloads above [`MAX_OPTION_LEN`] are skipped without being
//! held in memory and answered with `NBD_REP_ERR_TOO_BIG`; more than [`MAX_OPTIONS`] options
//! end the connection.

use super::export::Export;
use super::proto::*;
use std::io::{self, Read, Write};

/// Longest option payload read into memory.
pub const MAX_OPTION_LEN: u32 = 64 * 1024;
/// Most options one handshake may send.
pub const MAX_OPTIONS: usize = 1024;

/// What the client and server agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Index of the export in the list.
    pub export: usize,
    /// Structured replies were negotiated.
    pub structured: bool,
    /// `base:allocation` was selected.
    pub base_allocation: bool,
}

/// Runs the handshake on `s`. `Ok(None)` when the client aborted or asked for an export that
/// does not exist with `NBD_OPT_EXPORT_NAME` (the protocol closes the connection then).
pub fn negotiate<S: Read + Write>(s: &mut S, exports: &[Export]) -> io::Result<Option<Negotiated>> {
    let mut hello = Vec::with_capacity(18);
    hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
    hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
    hello.extend_from_slice(&(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES).to_be_bytes());
    s.write_all(&hello)?;
    s.flush()?;
    let client_flags = read_u32(s)?;
    if client_flags & !(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES) != 0 {
        return Err(invalid("client sent unknown handshake flags"));
    }
    let no_zeroes = client_flags & NBD_FLAG_C_NO_ZEROES != 0;
    let mut structured = false;
    let mut base_allocation = false;
    for _ in 0..MAX_OPTIONS {
        if read_u64(s)? != IHAVEOPT {
            return Err(invalid("option without IHAVEOPT"));
        }
        let option = read_u32(s)?;
        let len = read_u32(s)?;
        if len > MAX_OPTION_LEN {
            io::copy(&mut Read::by_ref(s).take(u64::from(len)), &mut io::sink())?;
            option_reply(s, option, NBD_REP_ERR_TOO_BIG, b"option too long")?;
            continue;
        }
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data)?;
        match option {
            NBD_OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data);
                let Some(i) = find(exports, &name) else {
                    return Ok(None);
                };
                let e = &exports[i];
                let mut b = Vec::with_capacity(134);
                b.extend_from_slice(&e.size().to_be_bytes());
                b.extend_from_slice(&e.transmission_flags().to_be_bytes());
                if !no_zeroes {
                    b.extend_from_slice(&[0u8; 124]);
                }
                s.write_all(&b)?;
                s.flush()?;
                return Ok(Some(Negotiated {
                    export: i,
                    structured: false,
                    base_allocation: false,
                }));
            }
            NBD_OPT_ABORT => {
                // The client may already have closed its side; the reply is a courtesy.
                let _ = option_reply(s, option, NBD_REP_ACK, &[]);
                let _ = s.flush();
                return Ok(None);
            }
            NBD_OPT_LIST => {
                if !data.is_empty() {
                    option_reply(s, option, NBD_REP_ERR_INVALID, b"LIST takes no data")?;
                } else {
                    for e in exports {
                        let mut b = Vec::new();
                        b.extend_from_slice(&(e.name.len() as u32).to_be_bytes());
                        b.extend_from_slice(e.name.as_bytes());
                        b.extend_from_slice(e.description.as_bytes());
                        option_reply(s, option, NBD_REP_SERVER, &b)?;
                    }
                    option_reply(s, option, NBD_REP_ACK, &[])?;
                }
            }
            NBD_OPT_STARTTLS => {
                option_reply(s, option, NBD_REP_ERR_POLICY, b"TLS is not offered")?;
            }
            NBD_OPT_INFO | NBD_OPT_GO => match parse_info(&data) {
                None => option_reply(s, option, NBD_REP_ERR_INVALID, b"malformed request")?,
                Some((name, requests)) => match find(exports, &name) {
                    None => option_reply(s, option, NBD_REP_ERR_UNKNOWN, b"no such export")?,
                    Some(i) => {
                        send_info(s, option, &exports[i], &name, &requests)?;
                        option_reply(s, option, NBD_REP_ACK, &[])?;
                        if option == NBD_OPT_GO {
                            s.flush()?;
                            return Ok(Some(Negotiated {
                                export: i,
                                structured,
                                base_allocation: base_allocation && structured,
                            }));
                        }
                    }
                },
            },
            NBD_OPT_STRUCTURED_REPLY => {
                if !data.is_empty() {
                    option_reply(s, option, NBD_REP_ERR_INVALID, b"takes no data")?;
                } else {
                    structured = true;
                    option_reply(s, option, NBD_REP_ACK, &[])?;
                }
            }
            NBD_OPT_LIST_META_CONTEXT | NBD_OPT_SET_META_CONTEXT => {
                let set = option == NBD_OPT_SET_META_CONTEXT;
                match parse_meta(&data) {
                    None => option_reply(s, option, NBD_REP_ERR_INVALID, b"malformed request")?,
                    Some(_) if set && !structured => {
                        option_reply(s, option, NBD_REP_ERR_INVALID, b"structured replies first")?
                    }
                    Some((name, _)) if find(exports, &name).is_none() => {
                        option_reply(s, option, NBD_REP_ERR_UNKNOWN, b"no such export")?
                    }
                    Some((_, queries)) => {
                        let matched = if queries.is_empty() {
                            !set
                        } else {
                            queries
                                .iter()
                                .any(|q| q == BASE_ALLOCATION || (!set && q == "base:"))
                        };
                        if set {
                            base_allocation = matched;
                        }
                        if matched {
                            let mut b = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
                            b.extend_from_slice(BASE_ALLOCATION.as_bytes());
                            option_reply(s, option, NBD_REP_META_CONTEXT, &b)?;
                        }
                        option_reply(s, option, NBD_REP_ACK, &[])?;
                    }
                }
            }
            _ => option_reply(s, option, NBD_REP_ERR_UNSUP, b"option not supported")?,
        }
        s.flush()?;
    }
    Err(invalid("too many options"))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// The export a name selects: by name, and the empty name picks the first (the default).
fn find(exports: &[Export], name: &str) -> Option<usize> {
    if name.is_empty() && !exports.is_empty() {
        return Some(0);
    }
    exports.iter().position(|e| e.name == name)
}

/// `u32 name length, name, u16 count, count × u16 info type`.
fn parse_info(d: &[u8]) -> Option<(String, Vec<u16>)> {
    let len = u32::from_be_bytes(d.get(..4)?.try_into().ok()?) as usize;
    let name = d.get(4..4usize.checked_add(len)?)?;
    let rest = &d[4 + len..];
    let n = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let list = rest.get(2..)?;
    if list.len() != n * 2 {
        return None;
    }
    let requests = list
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Some((String::from_utf8_lossy(name).into_owned(), requests))
}

/// `u32 name length, name, u32 count, count × (u32 length, query)`.
fn parse_meta(d: &[u8]) -> Option<(String, Vec<String>)> {
    let len = u32::from_be_bytes(d.get(..4)?.try_into().ok()?) as usize;
    let name = d.get(4..4usize.checked_add(len)?)?;
    let mut rest = &d[4 + len..];
    let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    rest = &rest[4..];
    let mut queries = Vec::new();
    for _ in 0..n {
        let ql = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let q = rest.get(4..4usize.checked_add(ql)?)?;
        queries.push(String::from_utf8_lossy(q).into_owned());
        rest = &rest[4 + ql..];
    }
    rest.is_empty()
        .then(|| (String::from_utf8_lossy(name).into_owned(), queries))
}

fn send_info<W: Write>(
    s: &mut W,
    option: u32,
    e: &Export,
    asked_name: &str,
    requests: &[u16],
) -> io::Result<()> {
    let mut b = NBD_INFO_EXPORT.to_be_bytes().to_vec();
    b.extend_from_slice(&e.size().to_be_bytes());
    b.extend_from_slice(&e.transmission_flags().to_be_bytes());
    option_reply(s, option, NBD_REP_INFO, &b)?;
    // Block sizes are always sent: any alignment works (minimum 1).
    let mut b = NBD_INFO_BLOCK_SIZE.to_be_bytes().to_vec();
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&e.preferred_block_size().to_be_bytes());
    b.extend_from_slice(&super::export::MAX_PAYLOAD.to_be_bytes());
    option_reply(s, option, NBD_REP_INFO, &b)?;
    if requests.contains(&NBD_INFO_NAME) || asked_name != e.name {
        let mut b = NBD_INFO_NAME.to_be_bytes().to_vec();
        b.extend_from_slice(e.name.as_bytes());
        option_reply(s, option, NBD_REP_INFO, &b)?;
    }
    if requests.contains(&NBD_INFO_DESCRIPTION) && !e.description.is_empty() {
        let mut b = NBD_INFO_DESCRIPTION.to_be_bytes().to_vec();
        b.extend_from_slice(e.description.as_bytes());
        option_reply(s, option, NBD_REP_INFO, &b)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_meta_payloads() {
        let mut d = 3u32.to_be_bytes().to_vec();
        d.extend_from_slice(b"abc");
        d.extend_from_slice(&1u16.to_be_bytes());
        d.extend_from_slice(&NBD_INFO_BLOCK_SIZE.to_be_bytes());
        assert_eq!(
            parse_info(&d),
            Some(("abc".into(), vec![NBD_INFO_BLOCK_SIZE]))
        );
        assert_eq!(parse_info(&d[..d.len() - 1]), None);
        let mut m = 0u32.to_be_bytes().to_vec();
        m.extend_from_slice(&1u32.to_be_bytes());
        m.extend_from_slice(&15u32.to_be_bytes());
        m.extend_from_slice(b"base:allocation");
        assert_eq!(
            parse_meta(&m),
            Some((String::new(), vec!["base:allocation".into()]))
        );
        m.push(0);
        assert_eq!(parse_meta(&m), None);
        let mut huge = 0u32.to_be_bytes().to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse_meta(&huge), None);
    }
}
