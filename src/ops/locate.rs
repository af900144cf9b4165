//! Locate: finds objects by their attributes, through the store's indexes, among the objects
//! the client may see, paged by Maximum Items and Offset Items.
//!
//! "All attributes are allowed to be used" (2.1 §6.1.28). The ones the store indexes (Name,
//! Object Type, State, Cryptographic Algorithm and Length, Object Group, Link, Application
//! Specific Information, vendor attributes, the dates) become store filters; any other is
//! matched here, on each candidate's attributes as clients see them
//! ([`super::attributes::visible`]: defaults such as Sensitive False count): a Cryptographic
//! Usage Mask by containment, Usage Limits by at-least, a structure by the fields the request
//! gives (the others are wildcards), anything else by equality with an instance. Candidates
//! are then those of the store filters alone, so such a Locate reads every candidate's record:
//! give it an indexed attribute too (an Object Type, a Name) when the store is large.

use super::{OpCtx, OpError};
use crate::kmip::attributes::{ApplicationSpecificInformation, Attribute, Link};
use crate::kmip::codec::Cx;
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::store::{Filter, Query};
use crate::ttlv::{self, Tag};

/// Turns the request's attributes into store filters, and the attributes the store does not
/// index (matched on each candidate, [`matches`]). Two instances of the same date attribute
/// give a range (2.1 §6.1.28); one gives that exact instant.
fn filters(attributes: Vec<Attribute>) -> (Vec<Filter>, Vec<Attribute>) {
    let mut out = Vec::new();
    let mut residual = Vec::new();
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
                residual.push(other);
                continue;
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
    (out, residual)
}

/// An attribute of a Locate request that the store does not index, with its TTLV item
/// (read once, held against every candidate).
struct Wanted {
    attribute: Attribute,
    item: Option<ttlv::OwnedItem>,
}

impl Wanted {
    fn new(attribute: Attribute) -> Wanted {
        let item = ttlv::decode(&item_of(&attribute))
            .ok()
            .map(ttlv::Item::into_owned);
        Wanted { attribute, item }
    }
}

/// Whether an object whose attributes (as clients see them) are `visible` matches `wanted`
/// (2.1 §6.1.28).
fn matches(visible: &[Attribute], wanted: &Wanted) -> bool {
    match &wanted.attribute {
        // "a matching candidate object has all of the bits set in its mask that are set in
        // the requested mask, but MAY have additional bits set".
        Attribute::CryptographicUsageMask(w) => visible
            .iter()
            .any(|a| matches!(a, Attribute::CryptographicUsageMask(m) if m.contains(*w))),
        // "a Usage Limits Count and Usage Limits Total equal to or larger than" the request's.
        Attribute::UsageLimits(w) => visible.iter().any(|a| match a {
            Attribute::UsageLimits(u) => {
                u.usage_limits_total >= w.usage_limits_total
                    && w.usage_limits_count
                        .is_none_or(|c| u.usage_limits_count.is_some_and(|have| have >= c))
                    && w.usage_limits_unit
                        .is_none_or(|unit| u.usage_limits_unit == Some(unit))
            }
            _ => false,
        }),
        attribute => {
            // (No item cannot happen: the model writes what the codec reads.)
            let Some(wanted_item) = &wanted.item else {
                return false;
            };
            visible
                .iter()
                .filter(|a| a.tag() == attribute.tag())
                .any(|a| {
                    let have = item_of(a);
                    ttlv::decode(&have).is_ok_and(|have| subsumes(wanted_item, &have))
                })
        }
    }
}

/// An attribute as its 2.x TTLV item (the tag is the attribute's own).
fn item_of(attribute: &Attribute) -> Vec<u8> {
    let mut w = ttlv::Writer::new();
    attribute.write_v2(&mut w, &Cx::new(KmipVersion::V2_1));
    w.into_inner()
}

/// Whether `have` has everything `wanted` gives: the same primitive value, or for a
/// Structure, each of `wanted`'s fields matched by one of `have`'s (fields `wanted` leaves
/// out match anything: "all of the structure fields are not REQUIRED to be specified").
fn subsumes(wanted: &ttlv::Item<'_>, have: &ttlv::Item<'_>) -> bool {
    if wanted.tag != have.tag {
        return false;
    }
    match (&wanted.value, &have.value) {
        (ttlv::Value::Structure(fields), ttlv::Value::Structure(_)) => fields
            .iter()
            .all(|f| have.children().iter().any(|h| subsumes(f, h))),
        (w, h) => w == h,
    }
}

/// 2.1 §6.1.28 Locate.
pub fn locate(request: &LocateRequest, ctx: &mut OpCtx<'_, '_>) -> Result<LocateResponse, OpError> {
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
    // Object Group Member (1.4 §4.9, 2.1 §6.1.28) narrows a Locate within an Object Group:
    // Group Member Fresh to the group's fresh objects (none served by a Get yet); Group
    // Member Default to "the default object as defined by server policy", which kmipd's
    // policy makes the group's most recently created Active object. (kmipd makes no object
    // on the fly when no fresh one is left: the spec's MAY.)
    let mut default_member = false;
    if let Some(member) = request.object_group_member {
        if !attributes
            .iter()
            .any(|a| matches!(a, Attribute::ObjectGroup(_)))
        {
            return Err(OpError::new(
                ResultReason::InvalidField,
                "Object Group Member needs an Object Group",
            ));
        }
        match member {
            ObjectGroupMember::GroupMemberFresh => attributes.push(Attribute::Fresh(true)),
            ObjectGroupMember::GroupMemberDefault => {
                attributes.push(Attribute::State(State::Active));
                default_member = true;
            }
            other => {
                return Err(OpError::new(
                    ResultReason::InvalidField,
                    format!("Object Group Member {other:?} is not defined"),
                ));
            }
        }
    }
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
    let offset = negative(request.offset_items, "Offset Items")?.unwrap_or(0);
    // The default member is one object, the newest.
    let (offset, limit) = if default_member {
        (0, limit.min(1))
    } else {
        (offset, limit)
    };
    let (filters, residual) = filters(attributes);
    let residual: Vec<Wanted> = residual.into_iter().map(Wanted::new).collect();
    // With attributes the store does not index, every candidate is checked here, and only
    // then counted and paged.
    let store_page = if residual.is_empty() {
        (offset, Some(limit))
    } else {
        (0, None)
    };
    let query = Query {
        filters,
        owner: ctx.kms.policy.visible_owner(ctx.principal),
        offset: store_page.0,
        limit: store_page.1,
        exclude_states,
        // 2.0/2.1 §6.1.28: "SHALL be returned in descending order of object creation (most
        // recently created object first)". 1.x fixes no order and keeps the ascending one,
        // under which objects created between two pages do not shift the later pages.
        newest_first: default_member || !ctx.cx.version.is_1x(),
    };
    let mut located = match wanted_uids.first() {
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
                    .take(query.limit.unwrap_or(usize::MAX))
                    .collect(),
                total,
            }
        }
    };
    if !residual.is_empty() {
        let mut kept = Vec::new();
        for uid in std::mem::take(&mut located.unique_identifiers) {
            let Some(object) = ctx.txn.get(&uid)? else {
                continue;
            };
            let visible = super::attributes::visible(&object);
            if residual.iter().all(|wanted| matches(&visible, wanted)) {
                kept.push(uid);
            }
        }
        located.total = kept.len();
        located.unique_identifiers = kept.into_iter().skip(offset).take(limit).collect();
    }
    if default_member {
        // The answer is the group's one default object, not a page of the Active ones.
        located.total = located.unique_identifiers.len();
    }
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
