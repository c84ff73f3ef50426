//! The MAVLink CRC32 variant used by CalcFileCRC32 (docs/PROTOCOL_NOTES.md §8): reflected
//! polynomial 0x04C11DB7, initial value 0, no final XOR. It is not zlib's CRC-32.

/// Incremental MAVLink CRC32.
#[derive(Debug, Clone, Default)]
pub struct MavCrc32 {
    value: u32,
}

impl MavCrc32 {
    /// A fresh CRC (value 0).
    pub fn new() -> MavCrc32 {
        MavCrc32 { value: 0 }
    }

    /// Feed more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.value = mavlink_crc32(self.value, data);
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u32 {
        self.value
    }
}

/// Continue the MAVLink CRC32 `prev` over `data` (start with 0).
///
/// crc32fast computes zlib's variant, which inverts the register before and
/// after; inverting around it gives the variant with no pre/post inversion.
pub fn mavlink_crc32(prev: u32, data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(!prev);
    hasher.update(data);
    !hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_matches_the_mavlink_variant_not_zlib() {
        assert_eq!(mavlink_crc32(0, b"123456789"), 0x2DFD_2D88);
        assert_ne!(crc32fast::hash(b"123456789"), 0x2DFD_2D88);
    }

    #[test]
    fn empty_input_gives_zero_and_chunks_chain() {
        assert_eq!(mavlink_crc32(0, b""), 0);
        let mut crc = MavCrc32::new();
        crc.update(b"1234");
        crc.update(b"56789");
        assert_eq!(crc.value(), 0x2DFD_2D88);
    }

    #[test]
    fn matches_a_bitwise_reference() {
        fn reference(data: &[u8]) -> u32 {
            let mut crc = 0u32;
            for &b in data {
                crc ^= b as u32;
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            crc
        }
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        assert_eq!(mavlink_crc32(0, &data), reference(&data));
    }
}
