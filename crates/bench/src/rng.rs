//! The workloads' random number generator: xorshift64 as in `BASELINE.md`.

/// The seed every repetition starts from.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64 (`x ^= x << 13; x ^= x >> 7; x ^= x << 17`).
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl Default for XorShift64 {
    fn default() -> Self {
        Self::new(SEED)
    }
}

impl XorShift64 {
    /// A generator starting from `seed` (must not be 0, or it stays 0 forever).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// `rnd() % n`, as the recipes say (`n` must be non-zero).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_matches_the_recipe() {
        let mut r = XorShift64::default();
        let mut x: u64 = SEED;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(r.next_u64(), x);
        }
    }
}
