//! placeholder until the crypto module lands
