//! Test file content: deterministic bytes that differ per seed. Included
//! (`#[path]`, as `content`) by the test binaries that use it.

/// Deterministic file content of `len` bytes (differs per `seed`).
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
