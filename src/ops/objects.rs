//! Create, Register and Get: objects come into being and go out to clients.

use sha2::{Digest as _, Sha256};

use super::lifecycle::set;
use super::{OpCtx, OpError};
use crate::kmip::attributes::{Attribute, Digest, TemplateAttribute};
use crate::kmip::codec::{ByteString, DateTime};
use crate::kmip::objects::*;
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::store::ManagedObject;

/// Attributes only the server sets (2.1 §4, "Initially set by: Server"); a client that sends
/// one in Create or Register gets Invalid Field.
fn server_only(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::UniqueIdentifier(_)
            | Attribute::State(_)
            | Attribute::InitialDate(_)
            | Attribute::LastChangeDate(_)
            | Attribute::Digest(_)
            | Attribute::DestroyDate(_)
            | Attribute::CompromiseDate(_)
            | Attribute::CompromiseOccurrenceDate(_)
            | Attribute::RevocationReason(_)
            | Attribute::ArchiveDate(_)
            | Attribute::Fresh(_)
            | Attribute::KeyValuePresent(_)
            | Attribute::OriginalCreationDate(_)
            | Attribute::AlwaysSensitive(_)
            | Attribute::NeverExtractable(_)
    )
}

/// A random (version 4) UUID: the Unique Identifier of a new object.
pub fn new_unique_identifier() -> Result<String, OpError> {
    let mut b = [0u8; 16];
    crate::crypto::fill_random(&mut b)
        .map_err(|_| OpError::new(ResultReason::CryptographicFailure, "no randomness"))?;
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    ))
}

/// Checks client attributes and returns them with the server's own added: Unique Identifier,
/// Object Type, State (Active at once when an Activation Date not in the future is given),
/// Initial Date, Last Change Date, Digest of the key material, Fresh (True: no Get has served
/// the object yet). Register lets the client set Fresh itself (2.1 §4.24: "unless the client
/// provides a False value in Register"); Create does not.
fn initial_attributes(
    uid: &str,
    object_type: ObjectType,
    client: Vec<Attribute>,
    material: Option<&[u8]>,
    now: i64,
    operation: Operation,
) -> Result<Vec<Attribute>, OpError> {
    let client_fresh = operation == Operation::Register;
    if let Some(bad) = client
        .iter()
        .find(|a| server_only(a) && !(client_fresh && matches!(a, Attribute::Fresh(_))))
    {
        return Err(OpError::new(
            ResultReason::InvalidField,
            format!("attribute {:?} is set by the server", bad.tag()),
        ));
    }
    if let Some(Attribute::ObjectType(t)) = client
        .iter()
        .find(|a| matches!(a, Attribute::ObjectType(_)))
    {
        if *t != object_type {
            return Err(OpError::new(
                ResultReason::InvalidField,
                "Object Type attribute differs from the request's",
            ));
        }
    }
    let active = client
        .iter()
        .any(|a| matches!(a, Attribute::ActivationDate(d) if d.0 <= now));
    let mut attributes = vec![
        Attribute::UniqueIdentifier(uid.to_string()),
        Attribute::ObjectType(object_type),
    ];
    attributes.extend(
        client
            .into_iter()
            .filter(|a| !matches!(a, Attribute::ObjectType(_))),
    );
    attributes.push(Attribute::State(if active {
        State::Active
    } else {
        State::PreActive
    }));
    attributes.push(Attribute::InitialDate(DateTime(now)));
    attributes.push(Attribute::LastChangeDate(DateTime(now)));
    if !attributes.iter().any(|a| matches!(a, Attribute::Fresh(_))) {
        attributes.push(Attribute::Fresh(true));
    }
    if let Some(bytes) = material {
        attributes.push(Attribute::Digest(Digest {
            hashing_algorithm: HashingAlgorithm::SHA_256,
            digest_value: Some(ByteString(Sha256::digest(bytes).to_vec())),
            key_format_type: Some(KeyFormatType::Raw),
        }));
    }
    Ok(attributes)
}

fn find<T>(attrs: &[Attribute], f: impl Fn(&Attribute) -> Option<T>) -> Option<T> {
    attrs.iter().find_map(f)
}

fn symmetric_key(algorithm: CryptographicAlgorithm, bytes: Vec<u8>) -> Object {
    Object::SymmetricKey(SymmetricKey {
        key_block: KeyBlock {
            key_format_type: KeyFormatType::Raw,
            key_compression_type: None,
            key_value: Some(KeyValue::Plain {
                key_material: KeyMaterial::Bytes(KeyBytes::new(bytes.clone())),
                attributes: Vec::new(),
            }),
            cryptographic_algorithm: Some(algorithm),
            cryptographic_length: Some(bytes.len() as i32 * 8),
            key_wrapping_data: None,
        },
    })
}

/// A Template-Attribute's own Names name Template objects (KMIP 1.x), which this server does
/// not keep: Item Not Found, rather than the names being dropped (which would create an
/// object without the template's attributes, or widen a Locate).
pub(super) fn no_templates(template: Option<&TemplateAttribute>) -> Result<(), OpError> {
    match template {
        Some(t) if !t.name.is_empty() => Err(OpError::new(
            ResultReason::ItemNotFound,
            "templates are not supported",
        )),
        _ => Ok(()),
    }
}

/// 2.1 §6.1.8 Create: AES keys of 128, 192 or 256 bits from the CSPRNG.
pub fn create(request: &CreateRequest, ctx: &mut OpCtx<'_, '_>) -> Result<CreateResponse, OpError> {
    no_templates(request.template_attribute.as_ref())?;
    if request.object_type != ObjectType::SymmetricKey {
        return Err(OpError::new(
            ResultReason::InvalidField,
            format!("Create makes Symmetric Keys, not {:?}", request.object_type),
        ));
    }
    let client = request.attributes();
    let algorithm = find(&client, |a| match a {
        Attribute::CryptographicAlgorithm(x) => Some(*x),
        _ => None,
    })
    .ok_or_else(|| {
        OpError::new(
            ResultReason::InvalidField,
            "Cryptographic Algorithm is required",
        )
    })?;
    let length = find(&client, |a| match a {
        Attribute::CryptographicLength(x) => Some(*x),
        _ => None,
    })
    .ok_or_else(|| {
        OpError::new(
            ResultReason::InvalidField,
            "Cryptographic Length is required",
        )
    })?;
    if algorithm != CryptographicAlgorithm::AES {
        return Err(OpError::new(
            ResultReason::InvalidField,
            format!("Create supports AES, not {algorithm:?}"),
        ));
    }
    if ![128, 192, 256].contains(&length) {
        return Err(OpError::new(
            ResultReason::InvalidField,
            format!("AES keys are 128, 192 or 256 bits, not {length}"),
        ));
    }
    let bytes = crate::crypto::random_bytes(length as usize / 8)
        .map_err(|_| OpError::new(ResultReason::CryptographicFailure, "key generation failed"))?;
    let uid = new_unique_identifier()?;
    let attributes = initial_attributes(
        &uid,
        ObjectType::SymmetricKey,
        client,
        Some(&bytes),
        ctx.now,
        Operation::Create,
    )?;
    ctx.txn.put_new(ManagedObject {
        unique_identifier: uid.clone(),
        object_type: ObjectType::SymmetricKey,
        owner: ctx.principal.name.clone(),
        attributes,
        object: Some(symmetric_key(algorithm, bytes.to_vec())),
        revision: 0,
    })?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(CreateResponse {
        object_type: ObjectType::SymmetricKey,
        unique_identifier: uid,
        template_attribute: None,
    })
}

/// The raw bytes of a registered object's key material, normalised: a Transparent Symmetric
/// Key is kept as Raw.
fn raw_material(object: &Object) -> Result<Option<Vec<u8>>, OpError> {
    let Some(block) = object.key_block() else {
        return Ok(match object {
            Object::OpaqueObject(o) => Some(o.opaque_data_value.as_slice().to_vec()),
            _ => None,
        });
    };
    if block.key_wrapping_data.is_some() || block.key_compression_type.is_some() {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            "wrapped or compressed key material cannot be registered",
        ));
    }
    match &block.key_value {
        Some(KeyValue::Plain {
            key_material: KeyMaterial::Bytes(b),
            ..
        }) if matches!(
            block.key_format_type,
            KeyFormatType::Raw | KeyFormatType::Opaque
        ) =>
        {
            Ok(Some(b.as_slice().to_vec()))
        }
        Some(KeyValue::Plain {
            key_material: KeyMaterial::Transparent(t),
            ..
        }) if block.key_format_type == KeyFormatType::TransparentSymmetricKey => t
            .key
            .as_ref()
            .map(|k| Some(k.as_slice().to_vec()))
            .ok_or_else(|| {
                OpError::new(
                    ResultReason::InvalidField,
                    "Transparent Symmetric Key without Key",
                )
            }),
        _ => Err(OpError::new(
            ResultReason::KeyFormatTypeNotSupported,
            format!(
                "Key Format Type {:?} is not supported here",
                block.key_format_type
            ),
        )),
    }
}

/// 2.1 §6.1.43 Register: Symmetric Keys, Secret Data and Opaque Objects.
pub fn register(
    request: &RegisterRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<RegisterResponse, OpError> {
    let object = request
        .object
        .as_ref()
        .ok_or_else(|| OpError::new(ResultReason::InvalidMessage, "Register carries no object"))?;
    if object.object_type() != request.object_type {
        return Err(OpError::new(
            ResultReason::InvalidField,
            "the object does not match the Object Type",
        ));
    }
    no_templates(request.template_attribute.as_ref())?;
    let mut client = request.attributes();
    let material = raw_material(object)?;
    let stored = match object {
        Object::SymmetricKey(k) => {
            let bytes = material.clone().unwrap_or_default();
            let algorithm = k
                .key_block
                .cryptographic_algorithm
                .or_else(|| {
                    find(&client, |a| match a {
                        Attribute::CryptographicAlgorithm(x) => Some(*x),
                        _ => None,
                    })
                })
                .ok_or_else(|| {
                    OpError::new(
                        ResultReason::InvalidField,
                        "Cryptographic Algorithm is required",
                    )
                })?;
            let bits = bytes.len() as i32 * 8;
            let declared = k.key_block.cryptographic_length.or_else(|| {
                find(&client, |a| match a {
                    Attribute::CryptographicLength(x) => Some(*x),
                    _ => None,
                })
            });
            if declared.is_some_and(|d| d != bits) || bytes.is_empty() {
                return Err(OpError::new(
                    ResultReason::InvalidField,
                    format!(
                        "Cryptographic Length {declared:?} does not match {bits}-bit key material"
                    ),
                ));
            }
            for (present, attr) in [
                (
                    client
                        .iter()
                        .any(|a| matches!(a, Attribute::CryptographicAlgorithm(_))),
                    Attribute::CryptographicAlgorithm(algorithm),
                ),
                (
                    client
                        .iter()
                        .any(|a| matches!(a, Attribute::CryptographicLength(_))),
                    Attribute::CryptographicLength(bits),
                ),
            ] {
                if !present {
                    client.push(attr);
                }
            }
            symmetric_key(algorithm, bytes)
        }
        Object::SecretData(_) | Object::OpaqueObject(_) => object.clone(),
        other => {
            return Err(OpError::new(
                ResultReason::InvalidField,
                format!("Register of {:?} is not supported", other.object_type()),
            ));
        }
    };
    let uid = new_unique_identifier()?;
    let attributes = initial_attributes(
        &uid,
        request.object_type,
        client,
        material.as_deref(),
        ctx.now,
        Operation::Register,
    )?;
    ctx.txn.put_new(ManagedObject {
        unique_identifier: uid.clone(),
        object_type: request.object_type,
        owner: ctx.principal.name.clone(),
        attributes,
        object: Some(stored),
        revision: 0,
    })?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(RegisterResponse {
        unique_identifier: uid,
        template_attribute: None,
    })
}

/// 2.1 §6.1.19 Get: the object in the requested Key Format Type (Raw or Transparent Symmetric
/// Key for symmetric keys). A destroyed object has no key material left: its Get answers
/// Object Destroyed (2.x), which `reason_for_version` turns into Item Not Found for 1.x,
/// where that reason does not exist.
pub fn get(request: &GetRequest, ctx: &mut OpCtx<'_, '_>) -> Result<GetResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let managed = ctx.object_only(&uid, Operation::Get)?;
    if request.key_wrapping_specification.is_some() || request.key_wrap_type.is_some() {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            "key wrapping on Get is not supported",
        ));
    }
    if request.key_compression_type.is_some() {
        return Err(OpError::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "key compression is not supported",
        ));
    }
    let object = managed.object.ok_or_else(|| {
        OpError::new(
            ResultReason::ObjectDestroyed,
            format!("object {uid} has been destroyed"),
        )
    })?;
    let object = match (object, request.key_format_type) {
        (object, None) => object,
        (Object::SymmetricKey(k), Some(KeyFormatType::Raw)) => Object::SymmetricKey(k),
        (Object::SymmetricKey(mut k), Some(KeyFormatType::TransparentSymmetricKey)) => {
            if let Some(KeyValue::Plain { key_material, .. }) = &mut k.key_block.key_value {
                if let KeyMaterial::Bytes(b) = key_material {
                    let key = b.clone();
                    *key_material = KeyMaterial::Transparent(Box::new(transparent_symmetric(key)));
                }
            }
            k.key_block.key_format_type = KeyFormatType::TransparentSymmetricKey;
            Object::SymmetricKey(k)
        }
        (o @ (Object::SecretData(_) | Object::OpaqueObject(_)), Some(f))
            if o.key_block().is_none_or(|b| b.key_format_type == f) =>
        {
            o
        }
        (_, Some(f)) => {
            return Err(OpError::new(
                ResultReason::KeyFormatTypeNotSupported,
                format!("Key Format Type {f:?} is not available for this object"),
            ));
        }
    };
    if managed.fresh {
        // 2.1 §4.24: Fresh turns False as soon as a Get has served the object; the change
        // commits with this batch, before the key goes out. (Not a change the Last Change
        // Date records: Get is not among the operations that set it, §4.29.)
        let mut full = ctx.object(&uid, Operation::Get)?;
        set(&mut full, Attribute::Fresh(false));
        ctx.txn.put(full)?;
    }
    ctx.id_placeholder = Some(uid.clone());
    Ok(GetResponse {
        object_type: managed.object_type,
        unique_identifier: uid,
        object: Some(object),
    })
}

fn transparent_symmetric(key: KeyBytes) -> TransparentKeyMaterial {
    TransparentKeyMaterial {
        key: Some(key),
        modulus: None,
        private_exponent: None,
        public_exponent: None,
        p: None,
        q: None,
        g: None,
        j: None,
        x: None,
        y: None,
        prime_exponent_p: None,
        prime_exponent_q: None,
        crt_coefficient: None,
        recommended_curve: None,
        d: None,
        q_string: None,
    }
}
