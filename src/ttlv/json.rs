//! The JSON encoding of TTLV (KMIP Additional Message Encodings v1.0, section 4).
