//! Request and response payloads, one declaration per operation (KMIP 2.1 section 6.1, with
//! the 1.x fields that 2.x replaced: Template-Attribute for Attributes, Attribute for New
//! Attribute, Attribute Name for Attribute Reference).
//!
//! A payload holds the fields of both encodings; which ones a message carries follows its
//! protocol version. Reading a 1.x message fills the 1.x fields, and the accessors
//! (`attributes()`, ...) give the rest of the server one view. Responses are built with
//! constructors that take the version and fill the right fields, so that an attribute or field
//! a version lacks is never sent.

use crate::kmip::attributes::{
    Attribute, AttributeReference, AttributeV1, Attributes, CryptographicParameters,
    RevocationReason, TemplateAttribute,
};
use crate::kmip::codec::{ByteString, Cx, DateTime};
use crate::kmip::messages::ProtocolVersion;
use crate::kmip::objects::{KeyWrappingSpecification, Object};
use crate::kmip::*;
use crate::kmip_struct;
use crate::ttlv::Item;

kmip_struct! {
    /// 2.1 §6.1.1 Activate; also the shape of Archive, Recover, Destroy and Get Attribute List
    /// requests.
    pub struct UniqueIdentifierRequest {
        unique_identifier: opt String = UniqueIdentifier,
    }
}

kmip_struct! {
    /// The response of the operations that answer with the Unique Identifier alone.
    pub struct UniqueIdentifierResponse {
        unique_identifier: req String = UniqueIdentifier,
    }
}

kmip_struct! {
    /// 2.1 §6.1.2 Add Attribute (1.x: `Attribute`; 2.x: `New Attribute`).
    pub struct AddAttributeRequest {
        unique_identifier: opt String = UniqueIdentifier,
        attribute: opt AttributeV1 = Attribute,
        new_attribute: opt Attribute = NewAttribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.2 Add Attribute response (1.x echoes the Attribute).
    pub struct AddAttributeResponse {
        unique_identifier: req String = UniqueIdentifier,
        attribute: opt AttributeV1 = Attribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.7 Check.
    pub struct CheckRequest {
        unique_identifier: opt String = UniqueIdentifier,
        usage_limits_count: opt i64 = UsageLimitsCount,
        cryptographic_usage_mask: opt CryptographicUsageMask = CryptographicUsageMask,
        lease_time: opt crate::kmip::codec::Interval = LeaseTime,
    }
}

kmip_struct! {
    /// 2.1 §6.1.7 Check response.
    pub struct CheckResponse {
        unique_identifier: opt String = UniqueIdentifier,
        usage_limits_count: opt i64 = UsageLimitsCount,
        cryptographic_usage_mask: opt CryptographicUsageMask = CryptographicUsageMask,
        lease_time: opt crate::kmip::codec::Interval = LeaseTime,
    }
}

kmip_struct! {
    /// 2.1 §6.1.8 Create.
    pub struct CreateRequest {
        object_type: req ObjectType = ObjectType,
        template_attribute: opt TemplateAttribute = TemplateAttribute,
        attributes: opt Attributes = Attributes,
        protection_storage_masks: opt ProtectionStorageMasks = ProtectionStorageMasks,
    }
}

kmip_struct! {
    /// 2.1 §6.1.8 Create response.
    pub struct CreateResponse {
        object_type: req ObjectType = ObjectType,
        unique_identifier: req String = UniqueIdentifier,
        template_attribute: opt TemplateAttribute = TemplateAttribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.9 Create Key Pair.
    pub struct CreateKeyPairRequest {
        common_template_attribute: opt TemplateAttribute = CommonTemplateAttribute,
        private_key_template_attribute: opt TemplateAttribute = PrivateKeyTemplateAttribute,
        public_key_template_attribute: opt TemplateAttribute = PublicKeyTemplateAttribute,
        common_attributes: opt Attributes = CommonAttributes,
        private_key_attributes: opt Attributes = PrivateKeyAttributes,
        public_key_attributes: opt Attributes = PublicKeyAttributes,
        common_protection_storage_masks: opt ProtectionStorageMasks = CommonProtectionStorageMasks,
        private_protection_storage_masks: opt ProtectionStorageMasks = PrivateProtectionStorageMasks,
        public_protection_storage_masks: opt ProtectionStorageMasks = PublicProtectionStorageMasks,
    }
}

kmip_struct! {
    /// 2.1 §6.1.9 Create Key Pair response.
    pub struct CreateKeyPairResponse {
        private_key_unique_identifier: req String = PrivateKeyUniqueIdentifier,
        public_key_unique_identifier: req String = PublicKeyUniqueIdentifier,
        private_key_template_attribute: opt TemplateAttribute = PrivateKeyTemplateAttribute,
        public_key_template_attribute: opt TemplateAttribute = PublicKeyTemplateAttribute,
    }
}

kmip_struct! {
    /// 2.1 §7.33 Protection Storage Masks.
    pub struct ProtectionStorageMasks {
        protection_storage_mask: vec ProtectionStorageMask = ProtectionStorageMask,
    }
}

kmip_struct! {
    /// 2.1 §6.1.11 Decrypt.
    pub struct DecryptRequest {
        unique_identifier: opt String = UniqueIdentifier,
        cryptographic_parameters: opt CryptographicParameters = CryptographicParameters,
        data: opt ByteString = Data,
        iv_counter_nonce: opt ByteString = IVCounterNonce,
        correlation_value: opt ByteString = CorrelationValue,
        init_indicator: opt bool = InitIndicator,
        final_indicator: opt bool = FinalIndicator,
        authenticated_encryption_additional_data: opt ByteString = AuthenticatedEncryptionAdditionalData,
        authenticated_encryption_tag: opt ByteString = AuthenticatedEncryptionTag,
    }
}

kmip_struct! {
    /// 2.1 §6.1.11 Decrypt response.
    pub struct DecryptResponse {
        unique_identifier: req String = UniqueIdentifier,
        // The plaintext: zeroized on drop, redacted in Debug.
        data: opt KeyBytes = Data,
        correlation_value: opt ByteString = CorrelationValue,
    }
}

kmip_struct! {
    /// 2.1 §6.1.13 Delete Attribute (1.x: Attribute Name and Index; 2.x: Current Attribute or
    /// Attribute Reference).
    pub struct DeleteAttributeRequest {
        unique_identifier: opt String = UniqueIdentifier,
        attribute_name: opt String = AttributeName,
        attribute_index: opt i32 = AttributeIndex,
        current_attribute: opt Attribute = CurrentAttribute,
        attribute_reference: opt AttributeReference = AttributeReference,
    }
}

kmip_struct! {
    /// 2.1 §6.1.13 Delete Attribute response (1.x returns the deleted Attribute).
    pub struct DeleteAttributeResponse {
        unique_identifier: req String = UniqueIdentifier,
        attribute: opt AttributeV1 = Attribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.16 Discover Versions (request and response have the same shape).
    pub struct DiscoverVersionsPayload {
        protocol_version: vec ProtocolVersion = ProtocolVersion,
    }
}

kmip_struct! {
    /// 2.1 §6.1.17 Encrypt.
    pub struct EncryptRequest {
        unique_identifier: opt String = UniqueIdentifier,
        cryptographic_parameters: opt CryptographicParameters = CryptographicParameters,
        // The plaintext: zeroized on drop, redacted in Debug.
        data: opt KeyBytes = Data,
        iv_counter_nonce: opt ByteString = IVCounterNonce,
        correlation_value: opt ByteString = CorrelationValue,
        init_indicator: opt bool = InitIndicator,
        final_indicator: opt bool = FinalIndicator,
        authenticated_encryption_additional_data: opt ByteString = AuthenticatedEncryptionAdditionalData,
    }
}

kmip_struct! {
    /// 2.1 §6.1.17 Encrypt response.
    pub struct EncryptResponse {
        unique_identifier: req String = UniqueIdentifier,
        data: opt ByteString = Data,
        iv_counter_nonce: opt ByteString = IVCounterNonce,
        correlation_value: opt ByteString = CorrelationValue,
        authenticated_encryption_tag: opt ByteString = AuthenticatedEncryptionTag,
    }
}

kmip_struct! {
    /// 2.1 §6.1.19 Get.
    pub struct GetRequest {
        unique_identifier: opt String = UniqueIdentifier,
        key_format_type: opt KeyFormatType = KeyFormatType,
        key_wrap_type: opt KeyWrapType = KeyWrapType,
        key_compression_type: opt KeyCompressionType = KeyCompressionType,
        key_wrapping_specification: opt KeyWrappingSpecification = KeyWrappingSpecification,
    }
}

kmip_struct! {
    /// 2.1 §6.1.19 Get response.
    pub struct GetResponse {
        object_type: req ObjectType = ObjectType,
        unique_identifier: req String = UniqueIdentifier,
        object: obj Object = SymmetricKey,
    }
}

kmip_struct! {
    /// 2.1 §6.1.20 Get Attributes (1.x: Attribute Name; 2.x: Attribute Reference).
    pub struct GetAttributesRequest {
        unique_identifier: opt String = UniqueIdentifier,
        attribute_name: vec String = AttributeName,
        attribute_reference: vec AttributeReference = AttributeReference,
    }
}

kmip_struct! {
    /// 2.1 §6.1.20 Get Attributes response (1.x: Attribute; 2.x: Attributes).
    pub struct GetAttributesResponse {
        unique_identifier: req String = UniqueIdentifier,
        attribute: vec AttributeV1 = Attribute,
        attributes: opt Attributes = Attributes,
    }
}

kmip_struct! {
    /// 2.1 §6.1.21 Get Attribute List response (1.x: Attribute Name; 2.x: Attribute Reference).
    pub struct GetAttributeListResponse {
        unique_identifier: req String = UniqueIdentifier,
        attribute_name: vec String = AttributeName,
        attribute_reference: vec AttributeReference = AttributeReference,
    }
}

kmip_struct! {
    /// 2.1 §6.1.24 Hash.
    pub struct HashRequest {
        cryptographic_parameters: req CryptographicParameters = CryptographicParameters,
        data: opt ByteString = Data,
        correlation_value: opt ByteString = CorrelationValue,
        init_indicator: opt bool = InitIndicator,
        final_indicator: opt bool = FinalIndicator,
    }
}

kmip_struct! {
    /// 2.1 §6.1.24 Hash response.
    pub struct HashResponse {
        data: opt ByteString = Data,
        correlation_value: opt ByteString = CorrelationValue,
    }
}

kmip_struct! {
    /// 2.1 §6.1.26 Interop (test harness control).
    pub struct InteropRequest {
        interop_function: req InteropFunction = InteropFunction,
        interop_identifier: req String = InteropIdentifier,
    }
}

kmip_struct! {
    /// An empty payload (Interop and Log responses).
    pub struct EmptyPayload {}
}

kmip_struct! {
    /// 2.1 §6.1.28 Locate (1.x filters are `Attribute` structures; 2.x one `Attributes`).
    /// Some 1.x clients (FortiOS) wrap the filters in a Template-Attribute instead; they
    /// filter the same way.
    pub struct LocateRequest {
        maximum_items: opt i32 = MaximumItems,
        offset_items: opt i32 = OffsetItems,
        storage_status_mask: opt StorageStatusMask = StorageStatusMask,
        object_group_member: opt ObjectGroupMember = ObjectGroupMember,
        attribute: vec AttributeV1 = Attribute,
        template_attribute: opt TemplateAttribute = TemplateAttribute,
        attributes: opt Attributes = Attributes,
    }
}

kmip_struct! {
    /// 2.1 §6.1.28 Locate response.
    pub struct LocateResponse {
        located_items: opt i32 = LocatedItems,
        unique_identifier: vec String = UniqueIdentifier,
    }
}

kmip_struct! {
    /// 2.1 §6.1.29 Log.
    pub struct LogRequest {
        log_message: req String = LogMessage,
    }
}

kmip_struct! {
    /// 2.1 §6.1.32 MAC.
    pub struct MACRequest {
        unique_identifier: opt String = UniqueIdentifier,
        cryptographic_parameters: opt CryptographicParameters = CryptographicParameters,
        data: opt ByteString = Data,
        correlation_value: opt ByteString = CorrelationValue,
        init_indicator: opt bool = InitIndicator,
        final_indicator: opt bool = FinalIndicator,
    }
}

kmip_struct! {
    /// 2.1 §6.1.32 MAC response.
    pub struct MACResponse {
        unique_identifier: req String = UniqueIdentifier,
        mac_data: opt ByteString = MACData,
        correlation_value: opt ByteString = CorrelationValue,
    }
}

kmip_struct! {
    /// 2.1 §6.1.33 MAC Verify.
    pub struct MACVerifyRequest {
        unique_identifier: opt String = UniqueIdentifier,
        cryptographic_parameters: opt CryptographicParameters = CryptographicParameters,
        data: opt ByteString = Data,
        mac_data: opt ByteString = MACData,
        correlation_value: opt ByteString = CorrelationValue,
        init_indicator: opt bool = InitIndicator,
        final_indicator: opt bool = FinalIndicator,
    }
}

kmip_struct! {
    /// 2.1 §6.1.33 MAC Verify response.
    pub struct MACVerifyResponse {
        unique_identifier: req String = UniqueIdentifier,
        validity_indicator: opt ValidityIndicator = ValidityIndicator,
        correlation_value: opt ByteString = CorrelationValue,
    }
}

kmip_struct! {
    /// 2.1 §6.1.34 Modify Attribute (1.x: `Attribute`; 2.x: Current and New Attribute).
    pub struct ModifyAttributeRequest {
        unique_identifier: opt String = UniqueIdentifier,
        attribute: opt AttributeV1 = Attribute,
        current_attribute: opt Attribute = CurrentAttribute,
        new_attribute: opt Attribute = NewAttribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.34 Modify Attribute response (1.x echoes the Attribute).
    pub struct ModifyAttributeResponse {
        unique_identifier: req String = UniqueIdentifier,
        attribute: opt AttributeV1 = Attribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.37 PKCS#11.
    pub struct PKCS_11Request {
        pkcs_11_interface: opt String = PKCS_11Interface,
        pkcs_11_function: req PKCS_11Function = PKCS_11Function,
        correlation_value: opt ByteString = CorrelationValue,
        pkcs_11_input_parameters: opt ByteString = PKCS_11InputParameters,
    }
}

kmip_struct! {
    /// 2.1 §6.1.37 PKCS#11 response.
    pub struct PKCS_11Response {
        pkcs_11_interface: opt String = PKCS_11Interface,
        pkcs_11_function: req PKCS_11Function = PKCS_11Function,
        correlation_value: opt ByteString = CorrelationValue,
        pkcs_11_output_parameters: opt ByteString = PKCS_11OutputParameters,
        pkcs_11_return_code: req PKCS_11ReturnCode = PKCS_11ReturnCode,
    }
}

kmip_struct! {
    /// 2.1 §6.1.40 Query.
    pub struct QueryRequest {
        query_function: vec QueryFunction = QueryFunction,
    }
}

kmip_struct! {
    /// 2.1 §7.32 Profile Version.
    pub struct ProfileVersion {
        profile_version_major: req i32 = ProfileVersionMajor,
        profile_version_minor: opt i32 = ProfileVersionMinor,
    }
}

kmip_struct! {
    /// 2.1 §7.31 Profile Information.
    pub struct ProfileInformation {
        profile_name: req ProfileName = ProfileName,
        server_uri: opt String = ServerURI,
        server_port: opt i32 = ServerPort,
        profile_version: opt ProfileVersion = ProfileVersion,
    }
}

kmip_struct! {
    /// 2.1 §7.5 Capability Information.
    pub struct CapabilityInformation {
        streaming_capability: opt bool = StreamingCapability,
        asynchronous_capability: opt bool = AsynchronousCapability,
        attestation_capability: opt bool = AttestationCapability,
        batch_undo_capability: opt bool = BatchUndoCapability,
        batch_continue_capability: opt bool = BatchContinueCapability,
        unwrap_mode: opt UnwrapMode = UnwrapMode,
        destroy_action: opt DestroyAction = DestroyAction,
        shredding_algorithm: opt ShreddingAlgorithm = ShreddingAlgorithm,
        rng_mode: opt RNGMode = RNGMode,
        quantum_safe_capability: opt bool = QuantumSafeCapability,
    }
}

kmip_struct! {
    /// 2.1 §7.37 Server Information.
    pub struct ServerInformation {
        server_name: opt String = ServerName,
        server_serial_number: opt String = ServerSerialNumber,
        server_version: opt String = ServerVersion,
        server_load: opt String = ServerLoad,
        product_name: opt String = ProductName,
        build_level: opt String = BuildLevel,
        build_date: opt String = BuildDate,
        cluster_info: opt String = ClusterInfo,
        alternative_failover_endpoints: vec String = AlternateFailoverEndpoints,
    }
}

kmip_struct! {
    /// 2.1 §6.1.40 Query response. Sections the server does not fill are left out; the
    /// structures this server never produces (Extension, RNG, Validation, Defaults) are kept as
    /// item trees.
    pub struct QueryResponse {
        operation: vec Operation = Operation,
        object_type: vec ObjectType = ObjectType,
        vendor_identification: opt String = VendorIdentification,
        server_information: opt ServerInformation = ServerInformation,
        application_namespace: vec String = ApplicationNamespace,
        extension_information: vec Item<'static> = ExtensionInformation,
        attestation_type: vec AttestationType = AttestationType,
        rng_parameters: vec Item<'static> = RNGParameters,
        profile_information: vec ProfileInformation = ProfileInformation,
        validation_information: vec Item<'static> = ValidationInformation,
        capability_information: vec CapabilityInformation = CapabilityInformation,
        client_registration_method: vec ClientRegistrationMethod = ClientRegistrationMethod,
        defaults_information: opt Item<'static> = DefaultsInformation,
        protection_storage_masks: opt ProtectionStorageMasks = ProtectionStorageMasks,
    }
}

kmip_struct! {
    /// 2.1 §6.1.43 Register (1.x: Template-Attribute).
    pub struct RegisterRequest {
        object_type: req ObjectType = ObjectType,
        template_attribute: opt TemplateAttribute = TemplateAttribute,
        attributes: opt Attributes = Attributes,
        object: obj Object = SymmetricKey,
        protection_storage_masks: opt ProtectionStorageMasks = ProtectionStorageMasks,
    }
}

kmip_struct! {
    /// 2.1 §6.1.43 Register response.
    pub struct RegisterResponse {
        unique_identifier: req String = UniqueIdentifier,
        template_attribute: opt TemplateAttribute = TemplateAttribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.44 Revoke.
    pub struct RevokeRequest {
        unique_identifier: opt String = UniqueIdentifier,
        revocation_reason: req RevocationReason = RevocationReason,
        compromise_occurrence_date: opt DateTime = CompromiseOccurrenceDate,
    }
}

kmip_struct! {
    /// 2.1 §6.1.46 Re-key.
    pub struct RekeyRequest {
        unique_identifier: opt String = UniqueIdentifier,
        offset: opt crate::kmip::codec::Interval = Offset,
        template_attribute: opt TemplateAttribute = TemplateAttribute,
        attributes: opt Attributes = Attributes,
        protection_storage_masks: opt ProtectionStorageMasks = ProtectionStorageMasks,
    }
}

kmip_struct! {
    /// 2.1 §6.1.46 Re-key response.
    pub struct RekeyResponse {
        unique_identifier: req String = UniqueIdentifier,
        template_attribute: opt TemplateAttribute = TemplateAttribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.49 RNG Retrieve.
    pub struct RNGRetrieveRequest {
        data_length: req i32 = DataLength,
    }
}

kmip_struct! {
    /// 2.1 §6.1.49 RNG Retrieve response.
    pub struct RNGRetrieveResponse {
        data: req ByteString = Data,
    }
}

kmip_struct! {
    /// 2.1 §6.1.50 RNG Seed.
    pub struct RNGSeedRequest {
        data: req ByteString = Data,
    }
}

kmip_struct! {
    /// 2.1 §6.1.50 RNG Seed response.
    pub struct RNGSeedResponse {
        data_length: req i32 = DataLength,
    }
}

kmip_struct! {
    /// 2.1 §6.1.51 Set Attribute.
    pub struct SetAttributeRequest {
        unique_identifier: opt String = UniqueIdentifier,
        new_attribute: req Attribute = NewAttribute,
    }
}

kmip_struct! {
    /// 2.1 §6.1.55 Sign.
    pub struct SignRequest {
        unique_identifier: opt String = UniqueIdentifier,
        cryptographic_parameters: opt CryptographicParameters = CryptographicParameters,
        data: opt ByteString = Data,
        digested_data: opt ByteString = DigestedData,
        correlation_value: opt ByteString = CorrelationValue,
        init_indicator: opt bool = InitIndicator,
        final_indicator: opt bool = FinalIndicator,
    }
}

kmip_struct! {
    /// 2.1 §6.1.55 Sign response.
    pub struct SignResponse {
        unique_identifier: req String = UniqueIdentifier,
        signature_data: opt ByteString = SignatureData,
        correlation_value: opt ByteString = CorrelationValue,
    }
}

kmip_struct! {
    /// 2.1 §6.1.56 Signature Verify.
    pub struct SignatureVerifyRequest {
        unique_identifier: opt String = UniqueIdentifier,
        cryptographic_parameters: opt CryptographicParameters = CryptographicParameters,
        data: opt ByteString = Data,
        digested_data: opt ByteString = DigestedData,
        signature_data: opt ByteString = SignatureData,
        correlation_value: opt ByteString = CorrelationValue,
        init_indicator: opt bool = InitIndicator,
        final_indicator: opt bool = FinalIndicator,
    }
}

kmip_struct! {
    /// 2.1 §6.1.56 Signature Verify response.
    pub struct SignatureVerifyResponse {
        unique_identifier: req String = UniqueIdentifier,
        validity_indicator: opt ValidityIndicator = ValidityIndicator,
        data: opt ByteString = Data,
        correlation_value: opt ByteString = CorrelationValue,
    }
}

impl CreateRequest {
    /// The attributes of the request, from whichever encoding carried them.
    pub fn attributes(&self) -> Vec<Attribute> {
        merged(self.template_attribute.as_ref(), self.attributes.as_ref())
    }
}

impl RegisterRequest {
    pub fn attributes(&self) -> Vec<Attribute> {
        merged(self.template_attribute.as_ref(), self.attributes.as_ref())
    }
}

impl RekeyRequest {
    pub fn attributes(&self) -> Vec<Attribute> {
        merged(self.template_attribute.as_ref(), self.attributes.as_ref())
    }
}

impl LocateRequest {
    /// The filter attributes (1.x: `Attribute` structures, bare or in a Template-Attribute;
    /// 2.x: `Attributes`).
    pub fn attributes(&self) -> Vec<Attribute> {
        let mut all: Vec<Attribute> = self.attribute.iter().map(|a| a.attribute.clone()).collect();
        all.extend(merged(
            self.template_attribute.as_ref(),
            self.attributes.as_ref(),
        ));
        all
    }
}

impl GetAttributesRequest {
    /// The attributes asked for, from either encoding; empty means all.
    pub fn references(&self) -> Vec<AttributeReference> {
        let mut all: Vec<_> = self
            .attribute_name
            .iter()
            .map(|n| AttributeReference::from_v1_name(n))
            .collect();
        all.extend(self.attribute_reference.iter().cloned());
        all
    }
}

impl GetAttributesResponse {
    /// Shapes the response for `cx.version`: 1.x `Attribute` structures or a 2.x `Attributes`,
    /// leaving out attributes that do not exist in that version.
    pub fn new(unique_identifier: String, attributes: Vec<Attribute>, cx: &Cx) -> Self {
        let present = attributes.into_iter().filter(|a| a.exists_in(cx.version));
        if cx.is_1x() {
            GetAttributesResponse {
                unique_identifier,
                attribute: present.map(AttributeV1::from).collect(),
                attributes: None,
            }
        } else {
            GetAttributesResponse {
                unique_identifier,
                attribute: Vec::new(),
                attributes: Some(Attributes(present.collect())),
            }
        }
    }
}

impl GetAttributeListResponse {
    /// Shapes the list for `cx.version` (1.x names, 2.x references).
    pub fn new(unique_identifier: String, references: Vec<AttributeReference>, cx: &Cx) -> Self {
        let present = references.into_iter().filter(|r| match r {
            AttributeReference::Standard(tag) => {
                crate::kmip::attributes::attribute_exists_in(*tag, cx.version)
            }
            AttributeReference::Vendor { .. } => true,
        });
        if cx.is_1x() {
            GetAttributeListResponse {
                unique_identifier,
                attribute_name: present.map(|r| r.v1_name()).collect(),
                attribute_reference: Vec::new(),
            }
        } else {
            GetAttributeListResponse {
                unique_identifier,
                attribute_name: Vec::new(),
                attribute_reference: present.collect(),
            }
        }
    }
}

fn merged(template: Option<&TemplateAttribute>, attributes: Option<&Attributes>) -> Vec<Attribute> {
    let mut all: Vec<Attribute> = template
        .map(|t| t.attribute.iter().map(|a| a.attribute.clone()).collect())
        .unwrap_or_default();
    if let Some(a) = attributes {
        all.extend(a.0.iter().cloned());
    }
    all
}
