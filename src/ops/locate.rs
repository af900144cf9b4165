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
    let mut attributes = request.attributes();
    // Unique Identifier narrows the match to that one object (SKFF-M-5: a client checks
    // that a key it knows still meets its criteria).
    let mut wanted_uids: Vec<String> = Vec::new();
    attributes.retain(|a| match a {
        Attribute::UniqueIdentifier(u) => {
            wanted_uids.push(u.clone());
            false
        }
        _ => true,
    });
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
    let located = match wanted_uids.first() {
        // Neither on-line nor destroyed objects asked for: nothing matches.
        _ if !online && !destroyed => crate::store::Located::default(),
        None => ctx.txn.store().locate(&query)?,
        Some(uid) => {
            let object = if wanted_uids.iter().all(|u| u == uid) {
                ctx.txn.get(uid)?
            } else {
                None // two different identifiers: nothing is both
            };
            let found = object.filter(|o| {
                query.owner.as_ref().is_none_or(|owner| &o.owner == owner)
                    && !query.exclude_states.contains(&o.state())
                    && query
                        .filters
                        .iter()
                        .all(|f| crate::store::memory::matches(o, f))
            });
            let total = usize::from(found.is_some());
            crate::store::Located {
                unique_identifiers: found
                    .map(|o| o.unique_identifier)
                    .into_iter()
                    .skip(query.offset)
                    .take(limit)
                    .collect(),
                total,
            }
        }
    };
    // Located Items (1.3+) when the client pages (Offset Items, Maximum Items) or the
    // answer is cut short by the server's own limit: then the client needs the total. It is
    // left out otherwise, as in the OASIS profile test cases (a MAY either way, 1.4 §4.9).
    // 1.4 §4.9: a single identifier returned goes into the ID Placeholder for the batch
    // items after this one; more matches (unless Maximum Items asked for one) or none empty
    // it, so that they fail rather than act on an object the client did not mean.
    ctx.id_placeholder = match located.unique_identifiers.as_slice() {
        [one] if located.total == 1 || request.maximum_items == Some(1) => Some(one.clone()),
        _ => None,
    };
    let paged = request.offset_items.is_some() || request.maximum_items.is_some();
    let cut_short = located.total > located.unique_identifiers.len();
    Ok(LocateResponse {
        located_items: (ctx.cx.version >= KmipVersion::V1_3 && (paged || cut_short))
            .then_some(located.total as i32),
        unique_identifier: located.unique_identifiers,
    })
}
