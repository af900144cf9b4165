//! kmipd: a KMIP key management server.
//!
//! Layout (imports point one way: `ttlv` ← `kmip` ← `ops` → `store`, `crypto`, `policy`,
//! `audit`; `server` → `ops`):
//! - [`server`]: the TLS listener, connection loop, limits, shutdown, development PKI.
//! - [`ttlv`]: the TTLV codec, pure and sans-IO: binary (nom), XML and JSON encodings, framing.
pub mod server;
pub mod ttlv;
