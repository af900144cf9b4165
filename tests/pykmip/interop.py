"""PyKMIP interoperability checks against a running kmipd.

Run by tests/kms_pykmip.rs with the virtual environment that .ci/setup creates. Every step
prints one line, "ok <step>: <detail>" or "FAIL <step>: <why>", and the script exits with
status 1 if any step failed (2 if it could not connect at all), so the Rust test can show
exactly which operation broke in which KMIP version.

Usage:
  interop.py --host H --port P --ca CA --cert C --key K \
             --other-cert C2 --other-key K2 --version 1.2 --tag RUN
"""

import argparse
import os
import sys
import traceback

from kmip import enums
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions, objects
from kmip.pie.client import ProxyKmipClient

VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0,
    "1.1": enums.KMIPVersion.KMIP_1_1,
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}

ATTRIBUTES = AttributeFactory()


class StepFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise StepFailed(message)


def expect_failure(reasons, call, *args, **kwargs):
    """Runs call, which must fail with a KMIP result reason in `reasons`."""
    try:
        value = call(*args, **kwargs)
    except exceptions.KmipOperationFailure as e:
        check(e.reason in reasons,
              "failed with {} ({}), expected one of {}".format(
                  e.reason, e.message, [r.name for r in reasons]))
        return e.reason
    raise StepFailed("succeeded with {!r}, expected a failure".format(value))


def name_attribute(name):
    return ATTRIBUTES.create_attribute(enums.AttributeType.NAME, name)


def attribute_map(attributes):
    """{attribute name: [values]} from get_attributes' list."""
    found = {}
    for a in attributes:
        found.setdefault(a.attribute_name.value, []).append(a.attribute_value)
    return found


def state_of(client, uid):
    _, attrs = client.get_attributes(uid, ["State"])
    values = attribute_map(attrs).get("State", [])
    check(len(values) == 1, "State: {!r}".format(values))
    return values[0].value


class Run:
    def __init__(self, args):
        self.args = args
        self.version = VERSIONS[args.version]
        self.tag = "{}-v{}".format(args.tag, args.version)
        self.failures = 0
        self.client = self.connect(args.cert, args.key)

    def connect(self, cert, key):
        client = ProxyKmipClient(
            hostname=self.args.host,
            port=self.args.port,
            cert=cert,
            key=key,
            ca=self.args.ca,
            config_file=os.devnull,
            kmip_version=self.version,
        )
        client.open()
        return client

    def step(self, name, fn):
        try:
            detail = fn()
        except Exception as e:  # report and go on with the next step
            self.failures += 1
            print("FAIL {}: {}: {}".format(name, type(e).__name__, e), flush=True)
            traceback.print_exc(file=sys.stdout)
            return None
        print("ok {}: {}".format(name, detail if detail is not None else ""), flush=True)
        return detail

    def name(self, what):
        return "{}-{}".format(self.tag, what)

    def run(self):
        c = self.client
        state = {}

        def create():
            uids = []
            for bits in (128, 192, 256):
                uid = c.create(enums.CryptographicAlgorithm.AES, bits,
                               name=self.name("created-{}".format(bits)),
                               cryptographic_usage_mask=[
                                   enums.CryptographicUsageMask.ENCRYPT,
                                   enums.CryptographicUsageMask.DECRYPT])
                check(isinstance(uid, str) and uid, "no uid: {!r}".format(uid))
                key = c.get(uid)
                check(isinstance(key, objects.SymmetricKey), "got {!r}".format(type(key)))
                check(len(key.value) * 8 == bits,
                      "AES-{} key has {} bytes".format(bits, len(key.value)))
                check(key.cryptographic_algorithm == enums.CryptographicAlgorithm.AES,
                      "algorithm {}".format(key.cryptographic_algorithm))
                uids.append(uid)
            check(len(set(uids)) == 3, "uids not distinct: {}".format(uids))
            state["created"] = uids[-1]
            # Every attribute of a key the server made: PyKMIP's decoders must read all of
            # what kmipd sends this version (Random Number Generator, Original Creation
            # Date, ... are left out where they cannot; docs/clients.md).
            _, everything = c.get_attributes(uids[-1])
            names = set(attribute_map(everything))
            check({"Unique Identifier", "State", "Initial Date", "Digest"} <= names,
                  "all attributes of a created key: {}".format(sorted(names)))
            return "AES-128/192/256 -> {}; {} attributes".format(", ".join(uids), len(names))

        def fresh():
            # Fresh (KMIP 1.1 and later): True until a Get has served the key. KMIP 1.0 has
            # no Fresh, and a 1.0 client must never be sent one.
            uid = c.create(enums.CryptographicAlgorithm.AES, 128, name=self.name("fresh"))

            def fresh_of():
                _, attrs = c.get_attributes(uid, ["Fresh"])
                values = attribute_map(attrs).get("Fresh", [])
                check(len(values) == 1, "Fresh: {!r}".format(values))
                return values[0].value

            if self.args.version == "1.0":
                _, everything = c.get_attributes(uid)
                check("Fresh" not in attribute_map(everything), "Fresh sent to a 1.0 client")
                c.get(uid)
                _, everything = c.get_attributes(uid)
                check("Fresh" not in attribute_map(everything), "Fresh sent to a 1.0 client")
                return "{}: no Fresh in KMIP 1.0, before or after Get".format(uid)
            check(fresh_of() is True, "a new key is not Fresh")
            c.get(uid)
            check(fresh_of() is False, "still Fresh after a Get")
            c.get(uid)
            check(fresh_of() is False, "Fresh again after a second Get")
            return "{}: Fresh, then not after Get".format(uid)

        def register_key():
            value = bytes(range(16, 48))
            key = objects.SymmetricKey(
                enums.CryptographicAlgorithm.AES, 256, value,
                masks=[enums.CryptographicUsageMask.ENCRYPT,
                       enums.CryptographicUsageMask.DECRYPT],
                name=self.name("registered-key"))
            uid = c.register(key)
            state["registered"] = uid
            got = c.get(uid)
            check(isinstance(got, objects.SymmetricKey), "got {!r}".format(type(got)))
            check(got.value == value, "bytes differ: {}".format(got.value.hex()))
            check(got.cryptographic_length == 256, "length {}".format(got.cryptographic_length))
            return "{} (get returned the 32 registered bytes)".format(uid)

        def register_wrapped():
            # A key the client wrapped itself (RFC 3394 by the `cryptography` package that
            # PyKMIP depends on, not kmipd's code) under a key of its own on the server: kmipd
            # unwraps it at Register and get() returns it in the clear. (PyKMIP cannot read a
            # wrapped Get answer, docs/clients.md: that direction is tested from Rust.)
            from cryptography.hazmat.primitives import keywrap
            kek = c.create(enums.CryptographicAlgorithm.AES, 256, name=self.name("kek"),
                           cryptographic_usage_mask=[
                               enums.CryptographicUsageMask.WRAP_KEY,
                               enums.CryptographicUsageMask.UNWRAP_KEY])
            c.activate(kek)
            value = os.urandom(32)
            wrapped = keywrap.aes_key_wrap(c.get(kek).value, value)
            key = objects.SymmetricKey(
                enums.CryptographicAlgorithm.AES, 256, wrapped,
                masks=[enums.CryptographicUsageMask.ENCRYPT],
                name=self.name("imported-key"),
                key_wrapping_data={
                    "wrapping_method": enums.WrappingMethod.ENCRYPT,
                    "encryption_key_information": {
                        "unique_identifier": kek,
                        "cryptographic_parameters": {
                            "block_cipher_mode": enums.BlockCipherMode.NIST_KEY_WRAP},
                    },
                    "encoding_option": enums.EncodingOption.NO_ENCODING,
                })
            uid = c.register(key)
            got = c.get(uid)
            check(got.value == value, "unwrapped bytes differ: {}".format(got.value.hex()))
            check(not got.key_wrapping_data, "came back with {}".format(got.key_wrapping_data))
            # Its Wrapping Key Link is one more attribute PyKMIP's decoders cannot read.
            _, everything = c.get_attributes(uid)
            names = set(attribute_map(everything))
            check({"State", "Digest"} <= names, "all attributes: {}".format(sorted(names)))
            return "{} wrapped under {}: unwrapped at register, get returned the key".format(
                uid, kek)

        def encrypt_decrypt():
            # AES-256-CBC with PKCS5 padding and a server-drawn IV (what MongoDB's and EDB's
            # clients ask for), checked against the `cryptography` package's own CBC.
            from cryptography.hazmat.primitives import padding
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
            uid = c.create(enums.CryptographicAlgorithm.AES, 256, name=self.name("data-key"),
                           cryptographic_usage_mask=[
                               enums.CryptographicUsageMask.ENCRYPT,
                               enums.CryptographicUsageMask.DECRYPT])
            params = {"block_cipher_mode": enums.BlockCipherMode.CBC,
                      "padding_method": enums.PaddingMethod.PKCS5,
                      "random_iv": True}
            if self.args.version in ("1.0", "1.1"):
                # Encrypt came with KMIP 1.2.
                reason = expect_failure((enums.ResultReason.OPERATION_NOT_SUPPORTED,),
                                        c.encrypt, b"x" * 16, uid=uid,
                                        cryptographic_parameters=params)
                return "not in KMIP {}: {}".format(self.args.version, reason.name)
            c.activate(uid)
            data = b"a data key to be kept encrypted!"
            encrypted, iv = c.encrypt(data, uid=uid, cryptographic_parameters=params)
            check(iv is not None and len(iv) == 16, "IV {!r}".format(iv))
            check(len(encrypted) == 48, "{} bytes of ciphertext".format(len(encrypted)))
            unpadder = padding.PKCS7(128).unpadder()
            decryptor = Cipher(algorithms.AES(c.get(uid).value), modes.CBC(iv)).decryptor()
            local = unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) \
                + unpadder.finalize()
            check(local == data, "local CBC decryption gave {!r}".format(local))
            del params["random_iv"]
            back = c.decrypt(encrypted, uid=uid, cryptographic_parameters=params,
                             iv_counter_nonce=iv)
            check(back == data, "decrypt gave {!r}".format(back))
            return "{}: AES-256-CBC-PKCS5 with a server IV; decrypted by kmipd and locally".format(
                uid)

        def register_secret():
            value = b"correct horse battery staple"
            secret = objects.SecretData(value, enums.SecretDataType.PASSWORD,
                                        masks=[enums.CryptographicUsageMask.DERIVE_KEY],
                                        name=self.name("secret"))
            uid = c.register(secret)
            got = c.get(uid)
            check(isinstance(got, objects.SecretData), "got {!r}".format(type(got)))
            check(got.value == value, "bytes differ: {!r}".format(got.value))
            check(got.data_type == enums.SecretDataType.PASSWORD,
                  "type {}".format(got.data_type))
            return "{} (get returned the registered password)".format(uid)

        def register_opaque():
            value = b"\x00\x01opaque\xff"
            opaque = objects.OpaqueObject(value, enums.OpaqueDataType.NONE,
                                          name=self.name("opaque"))
            uid = c.register(opaque)
            got = c.get(uid)
            check(isinstance(got, objects.OpaqueObject), "got {!r}".format(type(got)))
            check(got.value == value, "bytes differ: {!r}".format(got.value))
            return uid

        def get_attributes():
            uid = state["registered"]
            returned, attrs = c.get_attributes(
                uid, ["Cryptographic Algorithm", "Cryptographic Length", "State", "Name",
                      "Object Type"])
            check(returned == uid, "uid {!r}".format(returned))
            found = attribute_map(attrs)
            check(found["Cryptographic Algorithm"][0].value == enums.CryptographicAlgorithm.AES,
                  "algorithm {}".format(found.get("Cryptographic Algorithm")))
            check(found["Cryptographic Length"][0].value == 256,
                  "length {}".format(found.get("Cryptographic Length")))
            check(found["State"][0].value == enums.State.PRE_ACTIVE,
                  "state {}".format(found.get("State")))
            check(found["Object Type"][0].value == enums.ObjectType.SYMMETRIC_KEY,
                  "object type {}".format(found.get("Object Type")))
            names = [n.name_value.value for n in found["Name"]]
            check(names == [self.name("registered-key")], "names {}".format(names))
            _, everything = c.get_attributes(uid)
            all_names = sorted(attribute_map(everything))
            check({"Unique Identifier", "Object Type", "State"} <= set(all_names),
                  "all attributes: {}".format(all_names))
            return "5 requested attributes right; all: {}".format(", ".join(all_names))

        def get_attribute_list():
            names = c.get_attribute_list(state["registered"])
            expected = {"Cryptographic Algorithm", "Cryptographic Length", "Name",
                        "Object Type", "State", "Unique Identifier"}
            check(expected <= set(names), "missing {}".format(expected - set(names)))
            return ", ".join(names)

        def locate_by_name():
            uids = c.locate(attributes=[name_attribute(self.name("registered-key"))])
            check(uids == [state["registered"]], "located {}".format(uids))
            none = c.locate(attributes=[name_attribute(self.name("no-such-name"))])
            check(none == [], "an unknown name located {}".format(none))
            return "{} (and nothing for an unknown name)".format(uids)

        def locate_paged():
            name = self.name("paged")
            made = [c.create(enums.CryptographicAlgorithm.AES, 128, name=name)
                    for _ in range(5)]
            everything = c.locate(attributes=[name_attribute(name)])
            check(sorted(everything) == sorted(made),
                  "located {} of {}".format(everything, made))
            pages = []
            for offset in (0, 2, 4, 6):
                pages.append(c.locate(maximum_items=2, offset_items=offset,
                                      attributes=[name_attribute(name)]))
            sizes = [len(p) for p in pages]
            check(sizes == [2, 2, 1, 0], "page sizes {}".format(sizes))
            joined = [uid for page in pages for uid in page]
            check(joined == everything, "pages {} vs all {}".format(joined, everything))
            only = c.locate(maximum_items=3, attributes=[name_attribute(name)])
            check(only == everything[:3], "maximum_items=3 gave {}".format(only))
            return "5 keys in pages of 2: {}".format(sizes)

        def locate_by_usage_mask():
            # Not an indexed attribute: matched on each candidate, by mask containment.
            name = self.name("by-mask")
            masks = enums.CryptographicUsageMask
            data = c.create(enums.CryptographicAlgorithm.AES, 256, name=name,
                            cryptographic_usage_mask=[masks.ENCRYPT, masks.DECRYPT])
            wrap = c.create(enums.CryptographicAlgorithm.AES, 256, name=name,
                            cryptographic_usage_mask=[masks.WRAP_KEY, masks.UNWRAP_KEY])
            mask = lambda *bits: ATTRIBUTES.create_attribute(
                enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK, list(bits))
            # (PyKMIP's create adds Encrypt and Decrypt to every mask.)
            found = c.locate(attributes=[name_attribute(name), mask(masks.WRAP_KEY)])
            check(found == [wrap], "Wrap Key located {}".format(found))
            found = c.locate(attributes=[name_attribute(name), mask(masks.DECRYPT)])
            check(sorted(found) == sorted([data, wrap]), "Decrypt located {}".format(found))
            found = c.locate(attributes=[name_attribute(name), mask(masks.ENCRYPT, masks.WRAP_KEY)])
            check(found == [wrap], "Encrypt and Wrap Key located {}".format(found))
            found = c.locate(attributes=[name_attribute(name), mask(masks.EXPORT)])
            check(found == [], "Export located {}".format(found))
            return "by Wrap Key: the wrapping key; by Decrypt: both; by Export: none"

        def rekey():
            # Re-key (VAST Data's and HPE Data Fabric's rotation): a new key with a new
            # identifier and new bytes of the same length; the name moves to it.
            name = self.name("rotated")
            old = c.create(enums.CryptographicAlgorithm.AES, 256, name=name)
            c.activate(old)
            new = c.rekey(uid=old)
            check(isinstance(new, str) and new and new != old, "rekey gave {!r}".format(new))
            old_value, new_value = c.get(old).value, c.get(new).value
            check(len(new_value) == 32 and new_value != old_value,
                  "replacement bytes {}".format(new_value.hex()))
            found = c.locate(attributes=[name_attribute(name)])
            check(found == [new], "locate by the name found {}".format(found))
            _, old_names = c.get_attributes(old, ["Name"])
            check(attribute_map(old_names).get("Name", []) == [],
                  "the old key kept its name: {}".format(old_names))
            check(state_of(c, new) == enums.State.ACTIVE,
                  "the replacement of an Active key is {}".format(state_of(c, new)))
            # With an Offset the replacement activates that much later: Pre-Active now.
            later = c.rekey(uid=new, offset=3600)
            check(state_of(c, later) == enums.State.PRE_ACTIVE,
                  "replacement with an offset is {}".format(state_of(c, later)))
            return "{} -> {} (Active, named) -> {} (offset 3600 s: Pre-Active)".format(
                old, new, later)

        def activate():
            uid = state["registered"]
            check(c.activate(uid) is None, "activate returned a value")
            check(state_of(c, uid) == enums.State.ACTIVE, "not Active")
            reason = expect_failure(
                (enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE,
                 enums.ResultReason.PERMISSION_DENIED),
                c.activate, uid)
            return "Active; activating again fails with {}".format(reason.name)

        def revoke():
            uid = state["registered"]
            reason = expect_failure(
                (enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE,
                 enums.ResultReason.PERMISSION_DENIED),
                c.destroy, uid)
            c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid,
                     revocation_message="interop test")
            check(state_of(c, uid) == enums.State.DEACTIVATED, "not Deactivated")
            # Every attribute of a revoked key: PyKMIP's decoders cannot read Revocation
            # Reason, which kmipd leaves out of answers that name no attributes.
            _, everything = c.get_attributes(uid)
            names = set(attribute_map(everything))
            check({"State", "Deactivation Date"} <= names,
                  "all attributes of a revoked key: {}".format(sorted(names)))
            return "Deactivated (destroy of the Active key had failed with {}); {} attributes " \
                "read".format(reason.name, len(names))

        def destroy():
            uid = state["registered"]
            c.destroy(uid)
            # 2.0 has Object Destroyed; 1.x, which lacks it, gets Item Not Found.
            if self.args.version.startswith("2"):
                destroyed = (enums.ResultReason.OBJECT_DESTROYED,)
            else:
                destroyed = (enums.ResultReason.ITEM_NOT_FOUND,)
            reason = expect_failure(destroyed, c.get, uid)
            gone = c.locate(attributes=[name_attribute(self.name("registered-key"))])
            fresh = state["created"]
            c.destroy(fresh)  # a Pre-Active key is destroyed at once
            expect_failure(destroyed, c.get, fresh)
            return "get after destroy fails with {}; locate after destroy: {}".format(
                reason.name, gone)

        def other_principal():
            other = self.connect(self.args.other_cert, self.args.other_key)
            try:
                mine = c.create(enums.CryptographicAlgorithm.AES, 256,
                                name=self.name("private"))
                denied = (enums.ResultReason.PERMISSION_DENIED,
                          enums.ResultReason.ITEM_NOT_FOUND)
                reasons = [
                    expect_failure(denied, other.get, mine).name,
                    expect_failure(denied, other.get_attributes, mine).name,
                    expect_failure(denied, other.activate, mine).name,
                    expect_failure(denied, other.destroy, mine).name,
                ]
                seen = other.locate(attributes=[name_attribute(self.name("private"))])
                check(seen == [], "the other client located {}".format(seen))
                theirs = other.create(enums.CryptographicAlgorithm.AES, 128)
                check(len(other.get(theirs).value) == 16, "the other client's own key")
                expect_failure(denied, c.get, theirs)
                check(len(c.get(mine).value) == 32, "the owner lost access")
                return "get/get_attributes/activate/destroy refused ({}); locate sees nothing".format(
                    ", ".join(reasons))
            finally:
                other.close()

        self.step("create", create)
        self.step("fresh until the first get", fresh)
        self.step("register symmetric key", register_key)
        self.step("register a wrapped key", register_wrapped)
        self.step("encrypt and decrypt", encrypt_decrypt)
        self.step("register secret data", register_secret)
        self.step("register opaque object", register_opaque)
        if "registered" in state:
            self.step("get_attributes", get_attributes)
            self.step("get_attribute_list", get_attribute_list)
            self.step("locate by name", locate_by_name)
        self.step("locate paged", locate_paged)
        self.step("locate by usage mask", locate_by_usage_mask)
        self.step("rekey", rekey)
        if "registered" in state:
            self.step("activate", activate)
            self.step("revoke", revoke)
            if "created" in state:
                self.step("destroy", destroy)
        self.step("another principal's object", other_principal)
        self.client.close()
        return self.failures


def main():
    parser = argparse.ArgumentParser()
    for arg in ("--host", "--ca", "--cert", "--key", "--other-cert", "--other-key", "--tag"):
        parser.add_argument(arg, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=sorted(VERSIONS), required=True)
    args = parser.parse_args()
    try:
        run = Run(args)
    except Exception as e:
        print("FAIL connect: {}: {}".format(type(e).__name__, e), flush=True)
        traceback.print_exc(file=sys.stdout)
        return 2
    failures = run.run()
    print("{} with KMIP {}: {} failed step(s)".format(
        "PASS" if failures == 0 else "FAIL", args.version, failures), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
