//! kmipd: a KMIP key management server.
//!
//! Layout (imports point one way: `ttlv` ← `kmip` ← `ops` → `store`, `crypto`, `policy`,
//! `audit`; `server` → `ops`):
//! - [`kmip`]: KMIP semantics: tag, enumeration and mask tables by version, names for the text
//!   encodings.
//! - [`ttlv`]: the TTLV codec, pure and sans-IO: binary (nom), XML and JSON encodings, framing.
pub mod kmip;
pub mod ttlv;
