//! Unit tests of the range allocator.
