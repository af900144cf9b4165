//! The KMIP requests the load generator sends, and the little it reads from responses.
//!
//! Requests are built with the typed model in [`crate::kmip`] for the chosen protocol
//! version: 1.x requests carry Template-Attribute and `Attribute` structures, 2.x requests an
//! `Attributes` structure, exactly as a standard client would send them. Nothing here is
//! specific to kmipd.
//!
//! Responses are read tolerantly, by walking the item tree for the Result Status, Result
//! Reason, Result Message and the Unique Identifiers of each batch item, so that a server
//! adding fields this model does not know still counts as answering. Checking responses field
//! by field is the interop tests' job, not the load generator's.

use crate::kmip::attributes::{Attribute, AttributeV1, Attributes, Name, TemplateAttribute};
use crate::kmip::codec::{ByteString, Cx};
use crate::kmip::messages::*;
use crate::kmip::objects::{KeyBlock, KeyMaterial, KeyValue, Object, SymmetricKey};
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::ttlv::{self, Item, Tag, Value};

/// Builds request messages for one protocol version.
#[derive(Clone, Copy, Debug)]
pub struct Requests {
    pub version: KmipVersion,
}

fn name_attribute(name: &str) -> Attribute {
    Attribute::Name(Name {
        name_value: name.into(),
        name_type: NameType::UninterpretedTextString,
    })
}

fn usage() -> Attribute {
    Attribute::CryptographicUsageMask(
        CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt,
    )
}

impl Requests {
    pub fn new(version: KmipVersion) -> Self {
        Requests { version }
    }

    fn message(&self, items: Vec<(Operation, RequestPayload)>) -> Vec<u8> {
        let header = RequestHeader::new(self.version, items.len());
        // The spec requires a Unique Batch Item ID in every item of a batch of more than one
        // (PyKMIP's server rejects the message without it).
        let numbered = items.len() > 1;
        let batch_item = items
            .into_iter()
            .enumerate()
            .map(|(i, (operation, request_payload))| RequestBatchItem {
                operation,
                ephemeral: None,
                unique_batch_item_id: numbered
                    .then(|| ByteString((i as u32 + 1).to_be_bytes().to_vec())),
                request_payload,
                message_extension: vec![],
            })
            .collect();
        RequestMessage {
            request_header: header,
            batch_item,
        }
        .to_bytes(&Cx::new(self.version))
    }

    /// Attributes in the form of the version: (Template-Attribute, Attributes).
    fn attributes(&self, attrs: Vec<Attribute>) -> (Option<TemplateAttribute>, Option<Attributes>) {
        if self.version.is_1x() {
            let template = TemplateAttribute {
                name: vec![],
                attribute: attrs.into_iter().map(AttributeV1::from).collect(),
            };
            (Some(template), None)
        } else {
            (None, Some(Attributes(attrs)))
        }
    }

    fn create_payload(&self, name: Option<&str>) -> RequestPayload {
        let mut attrs = vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(256),
            usage(),
        ];
        if let Some(name) = name {
            attrs.push(name_attribute(name));
        }
        let (template_attribute, attributes) = self.attributes(attrs);
        RequestPayload::Create(CreateRequest {
            object_type: ObjectType::SymmetricKey,
            template_attribute,
            attributes,
            protection_storage_masks: None,
        })
    }

    /// One Create of an AES-256 key (left Pre-Active), with a Name if given.
    pub fn create(&self, name: Option<&str>) -> Vec<u8> {
        self.message(vec![(Operation::Create, self.create_payload(name))])
    }

    /// One message with a batch of Creates, one per name (`None`: unnamed).
    pub fn create_batch(&self, names: &[Option<String>]) -> Vec<u8> {
        self.message(
            names
                .iter()
                .map(|n| (Operation::Create, self.create_payload(n.as_deref())))
                .collect(),
        )
    }

    /// Get, in the server's default key format.
    pub fn get(&self, uid: &str) -> Vec<u8> {
        self.message(vec![(
            Operation::Get,
            RequestPayload::Get(GetRequest {
                unique_identifier: Some(uid.into()),
                key_format_type: None,
                key_wrap_type: None,
                key_compression_type: None,
                key_wrapping_specification: None,
            }),
        )])
    }

    /// Locate by Name.
    pub fn locate(&self, name: &str) -> Vec<u8> {
        let filter = name_attribute(name);
        let (attribute, attributes) = if self.version.is_1x() {
            (vec![AttributeV1::from(filter)], None)
        } else {
            (vec![], Some(Attributes(vec![filter])))
        };
        self.message(vec![(
            Operation::Locate,
            RequestPayload::Locate(LocateRequest {
                maximum_items: None,
                offset_items: None,
                storage_status_mask: None,
                object_group_member: None,
                attribute,
                template_attribute: None,
                attributes,
            }),
        )])
    }

    pub fn destroy(&self, uid: &str) -> Vec<u8> {
        self.message(vec![(
            Operation::Destroy,
            RequestPayload::Destroy(UniqueIdentifierRequest {
                unique_identifier: Some(uid.into()),
            }),
        )])
    }

    /// Register of a 256-bit AES key given as Raw bytes.
    pub fn register(&self, key: Vec<u8>) -> Vec<u8> {
        let object = Object::SymmetricKey(SymmetricKey {
            key_block: KeyBlock {
                key_format_type: KeyFormatType::Raw,
                key_compression_type: None,
                key_value: Some(KeyValue::Plain {
                    key_material: KeyMaterial::Bytes(KeyBytes::new(key)),
                    attributes: vec![],
                }),
                cryptographic_algorithm: Some(CryptographicAlgorithm::AES),
                cryptographic_length: Some(256),
                key_wrapping_data: None,
            },
        });
        let (template_attribute, attributes) = self.attributes(vec![usage()]);
        self.message(vec![(
            Operation::Register,
            RequestPayload::Register(RegisterRequest {
                object_type: ObjectType::SymmetricKey,
                template_attribute,
                attributes,
                object: Some(object),
                protection_storage_masks: None,
            }),
        )])
    }

    /// Encrypt of `data` with AES-CBC, PKCS5 padding and an IV the server draws (Random IV),
    /// as MongoDB's and EDB's clients ask for. The parameters name the algorithm too: PyKMIP's
    /// server takes it from them, not from the key.
    pub fn encrypt(&self, uid: &str, data: Vec<u8>) -> Vec<u8> {
        let mut parameters = crate::kmip::attributes::CryptographicParameters::none();
        parameters.cryptographic_algorithm = Some(CryptographicAlgorithm::AES);
        parameters.block_cipher_mode = Some(BlockCipherMode::CBC);
        parameters.padding_method = Some(PaddingMethod::PKCS5);
        parameters.random_iv = Some(true);
        self.message(vec![(
            Operation::Encrypt,
            RequestPayload::Encrypt(EncryptRequest {
                unique_identifier: Some(uid.into()),
                cryptographic_parameters: Some(parameters),
                data: Some(KeyBytes::new(data)),
                iv_counter_nonce: None,
                correlation_value: None,
                init_indicator: None,
                final_indicator: None,
                authenticated_encryption_additional_data: None,
            }),
        )])
    }

    /// One message with a batch of Activates.
    pub fn activate_batch(&self, uids: &[String]) -> Vec<u8> {
        self.message(
            uids.iter()
                .map(|uid| {
                    (
                        Operation::Activate,
                        RequestPayload::Activate(UniqueIdentifierRequest {
                            unique_identifier: Some(uid.clone()),
                        }),
                    )
                })
                .collect(),
        )
    }

    /// Discover Versions listing the version in use (the connection probe).
    pub fn discover_versions(&self) -> Vec<u8> {
        self.message(vec![(
            Operation::DiscoverVersions,
            RequestPayload::DiscoverVersions(DiscoverVersionsPayload {
                protocol_version: vec![ProtocolVersion::new(self.version)],
            }),
        )])
    }
}

/// What one response batch item said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    /// The Result Reason's spec name (or its number when unknown), for failures.
    pub reason: Option<String>,
    pub message: Option<String>,
    /// Unique Identifiers in the payload (the new object's, or Locate's hits).
    pub uids: Vec<String>,
    /// Whether the payload holds a structure besides the identifiers (Get's object).
    pub has_object: bool,
    /// Whether the payload holds Data (Encrypt's ciphertext).
    pub has_data: bool,
}

impl Outcome {
    /// The label under which a failure is tallied.
    pub fn failure_label(&self) -> String {
        self.reason
            .clone()
            .unwrap_or_else(|| "failed without a Result Reason".into())
    }
}

/// Reads the batch items of a Response Message.
pub fn outcomes(bytes: &[u8]) -> Result<Vec<Outcome>, String> {
    let message = ttlv::decode(bytes).map_err(|e| format!("undecodable response: {e}"))?;
    if message.tag != Tag::ResponseMessage {
        return Err(format!("not a Response Message (tag {})", message.tag));
    }
    let Value::Structure(children) = &message.value else {
        return Err("Response Message is not a structure".into());
    };
    let items: Vec<Outcome> = children
        .iter()
        .filter(|c| c.tag == Tag::BatchItem)
        .map(batch_item)
        .collect();
    if items.is_empty() {
        return Err("response has no batch item".into());
    }
    Ok(items)
}

fn batch_item(item: &Item<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Value::Structure(fields) = &item.value else {
        out.reason = Some("malformed batch item".into());
        return out;
    };
    for f in fields {
        match (f.tag, &f.value) {
            (Tag::ResultStatus, Value::Enumeration(v)) => {
                out.success = ResultStatus::from_u32(*v) == ResultStatus::Success
            }
            (Tag::ResultReason, Value::Enumeration(v)) => {
                let r = ResultReason::from_u32(*v);
                out.reason = Some(match r.name() {
                    Some(name) => name.to_string(),
                    None => format!("ResultReason(0x{v:08X})"),
                });
            }
            (Tag::ResultMessage, Value::TextString(m)) => out.message = Some(m.to_string()),
            (Tag::ResponsePayload, Value::Structure(payload)) => {
                for p in payload {
                    match (&p.tag, &p.value) {
                        (&Tag::UniqueIdentifier, Value::TextString(uid)) => {
                            out.uids.push(uid.to_string())
                        }
                        (_, Value::Structure(_)) => out.has_object = true,
                        (&Tag::Data, Value::ByteString(_)) => out.has_data = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Kms;
    use crate::policy::Principal;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn one(kms: &Kms, request: Vec<u8>) -> Outcome {
        let response = kms.handle(&Principal::new("bench"), &request, 1_700_000_000);
        let mut all = outcomes(&response).unwrap();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn every_request_succeeds_in_every_version() {
        for version in KmipVersion::ALL {
            let kms = Kms::new(Arc::new(MemoryStore::new()));
            let r = Requests::new(version);
            let created = one(&kms, r.create(Some("bench-x-0")));
            assert!(created.success, "{version}: {created:?}");
            let uid = created.uids[0].clone();
            let got = one(&kms, r.get(&uid));
            assert!(got.success && got.has_object, "{version}: {got:?}");
            let found = one(&kms, r.locate("bench-x-0"));
            assert_eq!(found.uids, vec![uid.clone()], "{version}");
            let registered = one(&kms, r.register(vec![7; 32]));
            assert!(registered.success, "{version}: {registered:?}");
            // Encrypt (KMIP 1.2 and later) under the key once activated.
            let activated = outcomes(&kms.handle(
                &Principal::new("bench"),
                &r.activate_batch(std::slice::from_ref(&uid)),
                1_700_000_000,
            ))
            .unwrap();
            assert!(activated[0].success, "{version}: {activated:?}");
            let encrypted = one(&kms, r.encrypt(&uid, vec![1; 32]));
            let has_encrypt = version >= KmipVersion::V1_2;
            assert_eq!(encrypted.success, has_encrypt, "{version}: {encrypted:?}");
            assert_eq!(encrypted.has_data, has_encrypt, "{version}");
            let (message, _) =
                RequestMessage::from_item(&ttlv::decode(&r.create_batch(&[None, None])).unwrap())
                    .unwrap();
            let ids: Vec<_> = message
                .batch_item
                .iter()
                .map(|i| i.unique_batch_item_id.clone().unwrap().0)
                .collect();
            assert_eq!(ids, vec![vec![0, 0, 0, 1], vec![0, 0, 0, 2]], "{version}");
            let single = RequestMessage::from_item(&ttlv::decode(&r.get("1")).unwrap())
                .unwrap()
                .0;
            assert_eq!(single.batch_item[0].unique_batch_item_id, None);
            let batch = outcomes(&kms.handle(
                &Principal::new("bench"),
                &r.create_batch(&[None, Some("b".into())]),
                1_700_000_000,
            ))
            .unwrap();
            assert!(batch.iter().all(|o| o.success && o.uids.len() == 1));
            let revoked = one(&kms, {
                // An Active key is revoked before it is destroyed.
                let payload = RequestPayload::Revoke(RevokeRequest {
                    unique_identifier: Some(uid.clone()),
                    revocation_reason: crate::kmip::attributes::RevocationReason {
                        revocation_reason_code: RevocationReasonCode::CessationOfOperation,
                        revocation_message: None,
                    },
                    compromise_occurrence_date: None,
                });
                r.message(vec![(Operation::Revoke, payload)])
            });
            assert!(revoked.success, "{version}: {revoked:?}");
            assert!(one(&kms, r.destroy(&uid)).success, "{version}");
            let gone = one(&kms, r.destroy(&uid));
            assert!(!gone.success);
            assert!(gone.reason.is_some(), "{gone:?}");
            let probe = one(&kms, r.discover_versions());
            assert!(probe.success, "{version}: {probe:?}");
        }
    }
}
