//! Locate: finds objects by their attributes, through the store's indexes, among the objects
//! the client may see, paged by Maximum Items and Offset Items.

use super::{OpCtx, OpError};
use crate::kmip::attributes::{ApplicationSpecificInformation, Attribute, Link};
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::store::{Filter, Query};
use crate::ttlv::Tag;

/// Turns the request's attributes into store filters. Two instances of the same date attribute
/// give a range (2.1 §6.1.28); one gives that exact instant.
fn filters(attributes: Vec<Attribute>) -> Result<Vec<Filter>, OpError> {
    let mut out = Vec::new();
    let mut dates: Vec<(Tag, i64)> = Vec::new();
    for a in attributes {
        if let Some(t) = a.as_date_time() {
            dates.push((a.tag(), t));
            continue;
        }
        out.push(match a {
            Attribute::Name(n) => Filter::Name(n.name_value),
            Attribute::ObjectType(t) => Filter::ObjectType(t),
            Attribute::State(s) => Filter::State(s),
            Attribute::CryptographicAlgorithm(x) => Filter::CryptographicAlgorithm(x),
            Attribute::CryptographicLength(x) => Filter::CryptographicLength(x),
            Attribute::ObjectGroup(g) => Filter::ObjectGroup(g),
            Attribute::Link(Link {
                link_type,
                linked_object_identifier,
            }) => Filter::Link {
                link_type,
                linked_object_identifier,
            },
            Attribute::ApplicationSpecificInformation(ApplicationSpecificInformation {
                application_namespace,
                application_data,
            }) => Filter::ApplicationSpecificInformation {
                application_namespace,
                application_data,
            },
            Attribute::Vendor(v) => Filter::Vendor {
                value: crate::store::memory::vendor_value_bytes(&v.attribute_value),
                vendor_identification: v.vendor_identification,
                attribute_name: v.attribute_name,
            },
            other => {
                return Err(OpError::new(
                    ResultReason::InvalidField,
                    format!(
                        "Locate by {} is not supported",
                        crate::kmip::attributes::AttributeV1::name_of(&other)
                    ),
                ));
            }
        });
    }
    while let Some((tag, first)) = dates.pop() {
        let (from, to) = match dates.iter().position(|(t, _)| *t == tag) {
            Some(i) => {
                let (_, second) = dates.remove(i);
                (first.min(second), first.max(second))
            }
            None => (first, first),
        };
        out.push(Filter::DateRange { tag, from, to });
    }
    Ok(out)
}

/// 2.1 §6.1.28 Locate.
pub fn locate(request: &LocateRequest, ctx: &mut OpCtx<'_, '_>) -> Result<LocateResponse, OpError> {
    // Group Member Fresh / Default narrow the match (2.1 §6.1.28); ignoring the field would
    // hand back objects the client asked to exclude.
    if request.object_group_member.is_some() {
        return Err(OpError::new(
            ResultReason::InvalidField,
            "Locate by Object Group Member is not supported",
        ));
    }
    super::objects::no_templates(request.template_attribute.as_ref())?;
    // Storage Status Mask: on-line objects by default; archival storage is not kept; 2.x's
    // Destroyed Storage bit asks for destroyed objects, which are left out otherwise (a
    // client locating a key by name must not be handed one whose material is gone).
    let mask = request
        .storage_status_mask
        .unwrap_or(StorageStatusMask::OnLineStorage);
    let online = mask.contains(StorageStatusMask::OnLineStorage);
    let destroyed = mask.contains(StorageStatusMask::DestroyedStorage);
    if !online && !destroyed {
        return Ok(LocateResponse {
            located_items: (ctx.cx.version >= KmipVersion::V1_3).then_some(0),
            unique_identifier: Vec::new(),
        });
    }
    let attributes = request.attributes();
    let exclude_states = if attributes.iter().any(|a| matches!(a, Attribute::State(_))) {
        Vec::new()
    } else if !online {
        vec![
            State::PreActive,
            State::Active,
            State::Deactivated,
            State::Compromised,
        ]
    } else if !destroyed {
        vec![State::Destroyed, State::DestroyedCompromised]
    } else {
        Vec::new()
    };
    let negative = |v: Option<i32>, what: &str| -> Result<Option<usize>, OpError> {
        match v {
            Some(n) if n < 0 => Err(OpError::new(
                ResultReason::InvalidField,
                format!("{what} is negative"),
            )),
            Some(n) => Ok(Some(n as usize)),
            None => Ok(None),
        }
    };
    let limit = negative(request.maximum_items, "Maximum Items")?
        .unwrap_or(ctx.kms.config.max_locate_items)
        .min(ctx.kms.config.max_locate_items);
    let query = Query {
        filters: filters(attributes)?,
        owner: ctx.kms.policy.visible_owner(ctx.principal),
        offset: negative(request.offset_items, "Offset Items")?.unwrap_or(0),
        limit: Some(limit),
        exclude_states,
    };
    let located = ctx.txn.store().locate(&query)?;
    Ok(LocateResponse {
        located_items: (ctx.cx.version >= KmipVersion::V1_3).then_some(located.total as i32),
        unique_identifier: located.unique_identifiers,
    })
}
