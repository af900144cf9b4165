//! Get Attributes, Get Attribute List, Add, Modify and Delete Attribute.
//!
//! Responses are shaped for the request's version by the payload constructors (1.x
//! `Attribute` structures and names, 2.x `Attributes` and references), so an attribute a
//! version lacks is never sent.

use super::lifecycle::set;
use super::{OpCtx, OpError};
use crate::kmip::attributes::{Attribute, AttributeReference, AttributeV1};
use crate::kmip::codec::DateTime;
use crate::kmip::payloads::*;
use crate::kmip::*;

/// Attributes a client may add, change or delete (2.1 §4: "Modifiable by client"). Everything
/// else is the server's to maintain.
fn client_modifiable(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::Name(_)
            | Attribute::ObjectGroup(_)
            | Attribute::ApplicationSpecificInformation(_)
            | Attribute::ContactInformation(_)
            | Attribute::Description(_)
            | Attribute::Comment(_)
            | Attribute::Link(_)
            | Attribute::AlternativeName(_)
            | Attribute::CryptographicUsageMask(_)
            | Attribute::ActivationDate(_)
            | Attribute::DeactivationDate(_)
            | Attribute::ProcessStartDate(_)
            | Attribute::ProtectStopDate(_)
            | Attribute::OperationPolicyName(_)
            | Attribute::Sensitive(_)
            | Attribute::Extractable(_)
            | Attribute::Vendor(_)
    )
}

/// Attributes that may have several instances.
fn multi_valued(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::Name(_)
            | Attribute::ObjectGroup(_)
            | Attribute::ApplicationSpecificInformation(_)
            | Attribute::Link(_)
            | Attribute::AlternativeName(_)
            | Attribute::Vendor(_)
    )
}

fn read_only(a: &Attribute) -> OpError {
    OpError::new(
        ResultReason::InvalidField,
        format!(
            "attribute {} may not be changed by a client",
            AttributeV1::name_of(a)
        ),
    )
}

/// 2.1 §6.1.20 Get Attributes: all attributes, or those named.
pub fn get_attributes(
    request: &GetAttributesRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<GetAttributesResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let object = ctx.object(&uid, Operation::GetAttributes)?;
    let wanted = request.references();
    let attributes = if wanted.is_empty() {
        object.attributes
    } else {
        object
            .attributes
            .into_iter()
            .filter(|a| wanted.contains(&a.reference()))
            .collect()
    };
    ctx.id_placeholder = Some(uid.clone());
    Ok(GetAttributesResponse::new(uid, attributes, &ctx.cx))
}

/// 2.1 §6.1.21 Get Attribute List: the names of the attributes the object has.
pub fn get_attribute_list(
    request: &UniqueIdentifierRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<GetAttributeListResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let object = ctx.object(&uid, Operation::GetAttributeList)?;
    let mut references: Vec<AttributeReference> = Vec::new();
    for a in &object.attributes {
        let r = a.reference();
        if !references.contains(&r) {
            references.push(r);
        }
    }
    ctx.id_placeholder = Some(uid.clone());
    Ok(GetAttributeListResponse::new(uid, references, &ctx.cx))
}

/// 2.1 §6.1.2 Add Attribute (1.x: `Attribute`, echoed in the response).
pub fn add_attribute(
    request: &AddAttributeRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<AddAttributeResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::AddAttribute)?;
    let attribute = match (&request.attribute, &request.new_attribute) {
        (Some(a), None) => a.attribute.clone(),
        (None, Some(a)) => a.clone(),
        _ => {
            return Err(OpError::new(
                ResultReason::InvalidMessage,
                "exactly one attribute is added",
            ));
        }
    };
    if !client_modifiable(&attribute) {
        return Err(read_only(&attribute));
    }
    let same: Vec<&Attribute> = object
        .attributes
        .iter()
        .filter(|a| a.reference() == attribute.reference())
        .collect();
    if !same.is_empty() && !multi_valued(&attribute) {
        return Err(OpError::new(
            ResultReason::InvalidField,
            format!(
                "{} already has a value and takes only one",
                AttributeV1::name_of(&attribute)
            ),
        ));
    }
    let index = same.len() as i32;
    object.attributes.push(attribute.clone());
    set(&mut object, Attribute::LastChangeDate(DateTime(ctx.now)));
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(AddAttributeResponse {
        unique_identifier: uid,
        attribute: ctx.cx.is_1x().then(|| AttributeV1 {
            attribute,
            index: (index > 0).then_some(index),
        }),
    })
}

/// The position of the `index`th instance of the attribute `reference`.
fn position(attrs: &[Attribute], reference: &AttributeReference, index: usize) -> Option<usize> {
    attrs
        .iter()
        .enumerate()
        .filter(|(_, a)| &a.reference() == reference)
        .nth(index)
        .map(|(i, _)| i)
}

/// 2.1 §6.1.34 Modify Attribute (1.x: by name and index; 2.x: the current value, or the only
/// instance).
pub fn modify_attribute(
    request: &ModifyAttributeRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<ModifyAttributeResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::ModifyAttribute)?;
    let (new, at) = match (&request.attribute, &request.new_attribute) {
        (Some(a), None) => {
            let at = position(
                &object.attributes,
                &a.attribute.reference(),
                a.index.unwrap_or(0).max(0) as usize,
            );
            (a.attribute.clone(), at)
        }
        (None, Some(new)) => {
            let at = match &request.current_attribute {
                Some(current) => object.attributes.iter().position(|a| a == current),
                None => position(&object.attributes, &new.reference(), 0),
            };
            (new.clone(), at)
        }
        _ => {
            return Err(OpError::new(
                ResultReason::InvalidMessage,
                "exactly one new attribute is given",
            ));
        }
    };
    if !client_modifiable(&new) {
        return Err(read_only(&new));
    }
    let at = at.ok_or_else(|| {
        OpError::new(
            ResultReason::ItemNotFound,
            format!(
                "object {uid} has no such {} to modify",
                AttributeV1::name_of(&new)
            ),
        )
    })?;
    object.attributes[at] = new.clone();
    set(&mut object, Attribute::LastChangeDate(DateTime(ctx.now)));
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(ModifyAttributeResponse {
        unique_identifier: uid,
        attribute: ctx.cx.is_1x().then(|| AttributeV1 {
            attribute: new,
            index: request.attribute.as_ref().and_then(|a| a.index),
        }),
    })
}

/// 2.1 §6.1.13 Delete Attribute.
pub fn delete_attribute(
    request: &DeleteAttributeRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<DeleteAttributeResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::DeleteAttribute)?;
    let at = if let Some(name) = &request.attribute_name {
        let reference = AttributeReference::from_v1_name(name);
        position(
            &object.attributes,
            &reference,
            request.attribute_index.unwrap_or(0).max(0) as usize,
        )
    } else if let Some(current) = &request.current_attribute {
        object.attributes.iter().position(|a| a == current)
    } else if let Some(reference) = &request.attribute_reference {
        position(&object.attributes, reference, 0)
    } else {
        return Err(OpError::new(
            ResultReason::InvalidMessage,
            "no attribute named",
        ));
    };
    let at = at.ok_or_else(|| {
        OpError::new(
            ResultReason::ItemNotFound,
            format!("object {uid} has no such attribute"),
        )
    })?;
    if !client_modifiable(&object.attributes[at]) {
        return Err(read_only(&object.attributes[at]));
    }
    let removed = object.attributes.remove(at);
    set(&mut object, Attribute::LastChangeDate(DateTime(ctx.now)));
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(DeleteAttributeResponse {
        unique_identifier: uid,
        attribute: ctx.cx.is_1x().then_some(AttributeV1 {
            attribute: removed,
            index: request.attribute_index,
        }),
    })
}
