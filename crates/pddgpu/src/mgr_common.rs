//! What the VRAM and GTT managers share: states, retry policy, counters.
