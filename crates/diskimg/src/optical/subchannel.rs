//! Subchannel data (ECMA-130 chapter 22): the eight channels P-W of 96 bits per sector.
//!
//! Raw ("interleaved") subchannel is 96 bytes, each holding one bit of every channel (bit 7 =
//! P ... bit 0 = W), as drives return it and most images store it. CloneCD stores it
//! "linear": 12 bytes of P, then 12 of Q, ... W. The Q channel's 12 bytes end with a CRC-16
//! (polynomial x^16 + x^12 + x^5 + 1, stored inverted, big-endian).

/// Raw interleaved P-W from the P and Q channels (R-W zero).
pub fn interleave(p: &mut [u8; 12], q: &[u8; 12], out: &mut [u8; 96]) {
    let mut linear = [0u8; 96];
    linear[..12].copy_from_slice(p);
    linear[12..24].copy_from_slice(q);
    linear_to_interleaved(&linear, out);
}

/// Interleaved P-W from 8 x 12 linear channel bytes.
pub fn linear_to_interleaved(linear: &[u8; 96], out: &mut [u8; 96]) {
    for (i, o) in out.iter_mut().enumerate() {
        let (byte, bit) = (i / 8, 7 - (i % 8));
        let mut v = 0u8;
        for ch in 0..8 {
            if linear[ch * 12 + byte] >> bit & 1 != 0 {
                v |= 0x80 >> ch;
            }
        }
        *o = v;
    }
}

/// 8 x 12 linear channel bytes from interleaved P-W.
pub fn interleaved_to_linear(raw: &[u8; 96], out: &mut [u8; 96]) {
    out.fill(0);
    for (i, &v) in raw.iter().enumerate() {
        let (byte, bit) = (i / 8, 7 - (i % 8));
        for ch in 0..8 {
            if v & (0x80 >> ch) != 0 {
                out[ch * 12 + byte] |= 1 << bit;
            }
        }
    }
}

/// The Q channel of interleaved P-W.
pub fn q_of(raw: &[u8; 96]) -> [u8; 12] {
    let mut linear = [0u8; 96];
    interleaved_to_linear(raw, &mut linear);
    let mut q = [0u8; 12];
    q.copy_from_slice(&linear[12..24]);
    q
}

/// The CRC of the first 10 Q bytes, as stored in bytes 10-11.
pub fn q_crc(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        let linear: [u8; 96] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let mut raw = [0u8; 96];
        linear_to_interleaved(&linear, &mut raw);
        let mut back = [0u8; 96];
        interleaved_to_linear(&raw, &mut back);
        assert_eq!(linear, back);
    }

    #[test]
    fn q_crc_of_a_real_q() {
        // Track 1, index 1, 00:00:00 relative, 00:02:00 absolute, audio, no flags.
        let q = [0x01, 0x01, 0x01, 0, 0, 0, 0, 0, 0x02, 0];
        let crc = q_crc(&q);
        // Appending the CRC (uninverted) makes the register zero.
        let mut full = q.to_vec();
        full.extend_from_slice(&(!crc).to_be_bytes());
        assert_eq!(q_crc(&full), !0);
    }
}
