//! kmipd: a KMIP key management server.
//!
//! Layout (imports point one way: `ttlv` ← `kmip` ← `ops` → `store`, `crypto`, `policy`,
//! `audit`; `server` → `ops`):
//! - [`crypto`]: key custody: master key providers (file, PKCS#11), store keys, sealing.
//! - [`ttlv`]: the TTLV codec, pure and sans-IO: binary (nom), XML and JSON encodings, framing.
pub mod crypto;
pub mod ttlv;
