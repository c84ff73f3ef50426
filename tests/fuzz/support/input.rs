//! Reading structured decisions out of fuzz bytes, and the seeded mutator of
//! the stable driver (no coverage feedback: it mutates the seed inputs).

use mavftp::link::sim::SplitMix64;

/// A cursor over fuzz bytes; reads past the end give None (or zeros).
pub struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data, at: 0 }
    }

    pub fn u8(&mut self) -> Option<u8> {
        let b = self.data.get(self.at).copied();
        self.at += 1;
        b
    }

    pub fn u8_or0(&mut self) -> u8 {
        self.u8().unwrap_or(0)
    }

    pub fn u16_le(&mut self) -> u16 {
        u16::from_le_bytes([self.u8_or0(), self.u8_or0()])
    }

    pub fn u32_le(&mut self) -> u32 {
        u32::from_le_bytes([self.u8_or0(), self.u8_or0(), self.u8_or0(), self.u8_or0()])
    }

    pub fn u64_le(&mut self) -> u64 {
        (self.u32_le() as u64) | (self.u32_le() as u64) << 32
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.at = start + n;
        &self.data[start..end]
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        self.at = self.data.len();
        &self.data[start..]
    }
}

/// Values that tend to sit on boundaries of this protocol.
const INTERESTING_U8: [u8; 14] = [
    0, 1, 2, 3, 6, 0x7F, 0x80, 128, 129, 238, 239, 240, 0xFD, 0xFE,
];
const INTERESTING_U32: [u32; 10] = [
    0,
    1,
    238,
    239,
    240,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0xFFFF_FFF0,
    0xFFFF_FFFF,
];

/// One mutant of `input`: 1–6 random edits (bit flips, interesting values,
/// inserted/deleted/duplicated ranges, splices from `others`), at most `max_len` bytes.
pub fn mutate(rng: &mut SplitMix64, input: &[u8], others: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    let edits = 1 + rng.below(6);
    for _ in 0..edits {
        let len = out.len() as u64;
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len) as usize;
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len) as usize;
                out[i] = INTERESTING_U8[rng.below(INTERESTING_U8.len() as u64) as usize];
            }
            2 if len >= 4 => {
                let i = rng.below(len - 3) as usize;
                let v = INTERESTING_U32[rng.below(INTERESTING_U32.len() as u64) as usize];
                out[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 => {
                let i = rng.below(len + 1) as usize;
                let n = 1 + rng.below(16) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                out.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let i = rng.below(len) as usize;
                let n = (1 + rng.below(32) as usize).min(out.len() - i);
                out.drain(i..i + n);
            }
            5 if len > 0 => {
                let i = rng.below(len) as usize;
                let n = (1 + rng.below(64) as usize).min(out.len() - i);
                let copy = out[i..i + n].to_vec();
                let at = rng.below(out.len() as u64 + 1) as usize;
                out.splice(at..at, copy);
            }
            6 if !others.is_empty() => {
                let other = &others[rng.below(others.len() as u64) as usize];
                if !other.is_empty() {
                    let i = rng.below(other.len() as u64) as usize;
                    let n = (1 + rng.below(128) as usize).min(other.len() - i);
                    let at = rng.below(out.len() as u64 + 1) as usize;
                    out.splice(at..at, other[i..i + n].iter().copied());
                }
            }
            7 if len > 0 => {
                out.truncate(rng.below(len) as usize);
            }
            _ if len > 0 => {
                let i = rng.below(len) as usize;
                out[i] = out[i].wrapping_add(1 + rng.below(4) as u8);
            }
            _ => out.push(rng.next_u64() as u8),
        }
    }
    out.truncate(max_len);
    out
}
