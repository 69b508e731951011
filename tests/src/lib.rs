//! Test harness: starts real keyhold services on 127.0.0.1:0.
