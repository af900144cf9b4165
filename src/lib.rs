//! kmipd: a KMIP key management server.
//!
//! Layout (imports point one way: `ttlv` ← `kmip` ← `ops` → `store`, `crypto`, `policy`;
//! `server` → `ops`; `main` → `cli` → everything):
//! - [`ttlv`]: the TTLV codec, pure and sans-IO: binary (nom), XML and JSON encodings, framing.
//! - [`kmip`]: tag and enumeration tables generated from the spec, typed messages, attributes,
//!   managed objects, the 1.x ⇄ 2.x adapter, and the one mapping to Result Reason.
//! - [`crypto`]: the key hierarchy: master key providers (file, PKCS#11), store keys, sealing
//!   of object material.
//! - [`ops`]: the operation dispatcher and handlers.
//! - [`policy`]: principals and the one access check.
//! - [`store`]: the object store trait and its implementations.
//! - [`audit`]: the hash-chained audit log: record layout, appending, verification.
//! - [`server`]: the TLS listener, connection loop, limits, shutdown, development PKI.
//! - [`loadgen`]: `kmipd bench`, a load generator for any KMIP server over mutual TLS.
//! - [`cli`]: the command line.
pub mod audit;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod kmip;
pub mod loadgen;
pub mod ops;
pub mod policy;
pub mod server;
pub mod store;
pub mod ttlv;
