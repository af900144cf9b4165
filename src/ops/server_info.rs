//! Discover Versions and Query: what the server speaks and offers.

use super::{OpCtx, SUPPORTED_VERSIONS};
use crate::kmip::messages::ProtocolVersion;
use crate::kmip::payloads::*;
use crate::kmip::*;

/// The operations this server performs (and Interop, when configured for test runs).
pub const OPERATIONS: [Operation; 19] = [
    Operation::DiscoverVersions,
    Operation::Query,
    Operation::Create,
    Operation::Register,
    Operation::Get,
    Operation::Encrypt,
    Operation::Decrypt,
    Operation::GetAttributes,
    Operation::GetAttributeList,
    Operation::AddAttribute,
    Operation::ModifyAttribute,
    Operation::DeleteAttribute,
    Operation::Locate,
    Operation::ReKey,
    Operation::Activate,
    Operation::Revoke,
    Operation::Destroy,
    Operation::Check,
    Operation::Log,
];

/// The object types this server keeps.
pub const OBJECT_TYPES: [ObjectType; 3] = [
    ObjectType::SymmetricKey,
    ObjectType::SecretData,
    ObjectType::OpaqueObject,
];

/// 2.1 §6.1.16: the versions both sides speak, in the server's order of preference; all of
/// ours when the client lists none.
pub fn discover_versions(request: &DiscoverVersionsPayload) -> DiscoverVersionsPayload {
    let offered: Vec<KmipVersion> = request
        .protocol_version
        .iter()
        .filter_map(ProtocolVersion::version)
        .collect();
    DiscoverVersionsPayload {
        protocol_version: SUPPORTED_VERSIONS
            .iter()
            .filter(|v| request.protocol_version.is_empty() || offered.contains(v))
            .map(|v| ProtocolVersion::new(*v))
            .collect(),
    }
}

/// 2.1 §6.1.40: answers each Query Function asked, with what exists in the request's version.
pub fn query(request: &QueryRequest, ctx: &OpCtx<'_, '_>) -> QueryResponse {
    let version = ctx.cx.version;
    let mut response = QueryResponse {
        operation: Vec::new(),
        object_type: Vec::new(),
        vendor_identification: None,
        server_information: None,
        application_namespace: Vec::new(),
        extension_information: Vec::new(),
        attestation_type: Vec::new(),
        rng_parameters: Vec::new(),
        profile_information: Vec::new(),
        validation_information: Vec::new(),
        capability_information: Vec::new(),
        client_registration_method: Vec::new(),
        defaults_information: None,
        protection_storage_masks: None,
    };
    for function in &request.query_function {
        match function {
            QueryFunction::QueryOperations => {
                response.operation = OPERATIONS
                    .iter()
                    .copied()
                    .chain(ctx.kms.config.interop.then_some(Operation::Interop))
                    .filter(|op| op.exists_in(version))
                    .collect()
            }
            QueryFunction::QueryObjects => response.object_type = OBJECT_TYPES.to_vec(),
            QueryFunction::QueryServerInformation => {
                response.vendor_identification = Some(ctx.kms.config.vendor_identification.clone());
                if version >= KmipVersion::V2_0 {
                    response.server_information = Some(ServerInformation {
                        server_name: Some(ctx.kms.config.server_name.clone()),
                        server_serial_number: None,
                        server_version: Some(env!("CARGO_PKG_VERSION").to_string()),
                        server_load: None,
                        product_name: Some("kmipd".into()),
                        build_level: None,
                        build_date: None,
                        cluster_info: None,
                        alternative_failover_endpoints: Vec::new(),
                    });
                }
            }
            QueryFunction::QueryProfiles if version >= KmipVersion::V1_3 => {
                response.profile_information = profiles(version, ctx.kms.config.http)
            }
            QueryFunction::QueryCapabilities if version >= KmipVersion::V1_3 => {
                response.capability_information = vec![CapabilityInformation {
                    streaming_capability: Some(false),
                    asynchronous_capability: Some(false),
                    attestation_capability: Some(false),
                    batch_undo_capability: (version >= KmipVersion::V1_4).then_some(true),
                    batch_continue_capability: (version >= KmipVersion::V1_4).then_some(true),
                    // A wrapped key is unwrapped at Register and kept unwrapped.
                    unwrap_mode: Some(UnwrapMode::Processed),
                    destroy_action: None,
                    shredding_algorithm: None,
                    rng_mode: None,
                    quantum_safe_capability: None,
                }]
            }
            // Functions for what this server does not have (application namespaces,
            // extensions, attestation, RNGs, validations, registration methods) answer with
            // nothing, as the spec asks of a server without them.
            _ => {}
        }
    }
    response
}

/// The profiles this server conforms to, as the version names them; with `http`, the
/// message-encoding profiles of KMIP Additional Message Encodings (HTTPS, XML, JSON server)
/// in their newest form the version has.
fn profiles(version: KmipVersion, http: bool) -> Vec<ProfileInformation> {
    use ProfileName::*;
    let names: &[ProfileName] = if version >= KmipVersion::V2_0 {
        &[BaselineServer, SymmetricKeyLifecycleServer]
    } else {
        &[
            BaselineServerBasicKMIPV1_2,
            SymmetricKeyLifecycleServerKMIPV1_2,
        ]
    };
    let encodings: &[ProfileName] = match version {
        _ if !http => &[],
        v if v >= KmipVersion::V2_0 => &[HTTPSServer, XMLServer, JSONServer],
        KmipVersion::V1_4 => &[HTTPSServerKMIPV1_4, XMLServerKMIPV1_4, JSONServerKMIPV1_4],
        _ => &[HTTPSServerKMIPV1_3, XMLServerKMIPV1_3, JSONServerKMIPV1_3],
    };
    names
        .iter()
        .chain(encodings)
        .filter(|n| n.exists_in(version))
        .map(|name| ProfileInformation {
            profile_name: *name,
            server_uri: None,
            server_port: None,
            profile_version: None,
        })
        .collect()
}

/// Longest Log Message written to the server's log; the rest is cut.
const LOG_MESSAGE_MAX: usize = 1024;

/// 2.1 §6.1.29 Log: the client's message goes to the server's log (at info, with who sent
/// it, cut at [`LOG_MESSAGE_MAX`] characters and written escaped, so that it cannot forge
/// log lines). The audit log records the operation like any other.
pub fn log(request: &LogRequest, ctx: &OpCtx<'_, '_>) -> EmptyPayload {
    let message: String = request.log_message.chars().take(LOG_MESSAGE_MAX).collect();
    tracing::info!(principal = %ctx.principal.name, message = ?message, "client Log");
    EmptyPayload {}
}

/// 2.1 §6.1.26 Interop, answered only when the server is configured for an interoperability
/// test run: marks where a test case begins, ends or resets in the server's log.
pub fn interop(request: &InteropRequest, ctx: &OpCtx<'_, '_>) -> EmptyPayload {
    tracing::info!(
        principal = %ctx.principal.name,
        function = ?request.interop_function,
        identifier = ?request.interop_identifier,
        "Interop"
    );
    EmptyPayload {}
}
