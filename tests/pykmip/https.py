"""KMIP over HTTPS (KMIP Additional Message Encodings 1.0, section 2) against a running kmipd,
from Python's own HTTP client and PyKMIP's message layer.

PyKMIP speaks TTLV over TLS only. This script keeps everything of PyKMIP above the socket
(ProxyKmipClient's operations, its TTLV encoder and decoder) and replaces the socket with
Python's http.client: each request message is POSTed to https://HOST:PORT/kmip as
application/octet-stream over one kept-alive, mutually authenticated connection, and the
response body is handed back to PyKMIP. It also sends an XML and a JSON body, and one request
that is not a KMIP exchange. Run by tests/kms_pykmip.rs; prints "ok <step>: <detail>" or
"FAIL <step>: <why>" per step and exits 1 if a step failed.

Usage:
  https.py --host H --port P --ca CA --cert C --key K --version 1.2 --tag RUN
"""

import argparse
import http.client
import json
import ssl
import sys
import traceback

from kmip import enums
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.utils import BytearrayStream
from kmip.pie import exceptions, objects
from kmip.pie.client import ProxyKmipClient

VERSIONS = {
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}


class StepFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise StepFailed(message)


class HttpsTransport:
    """Stands in for PyKMIP's KMIPProtocol: write() keeps the request, read() POSTs it."""

    def __init__(self, connection, path):
        self.connection = connection
        self.path = path
        self.request = None
        self.exchanges = 0
        self.sockets = []

    def write(self, data):
        self.request = bytes(data)

    def read(self):
        self.connection.request(
            "POST", self.path, body=self.request,
            headers={"Content-Type": "application/octet-stream",
                     "Cache-Control": "no-cache"})
        if not any(s is self.connection.sock for s in self.sockets):
            self.sockets.append(self.connection.sock)
        response = self.connection.getresponse()
        body = response.read()
        check(response.status == 200,
              "HTTP {} {}: {!r}".format(response.status, response.reason, body[:200]))
        check(response.getheader("Content-Type") == "application/octet-stream",
              "Content-Type {!r}".format(response.getheader("Content-Type")))
        check(response.getheader("Cache-Control") == "no-cache",
              "Cache-Control {!r}".format(response.getheader("Cache-Control")))
        check(int(response.getheader("Content-Length")) == len(body), "Content-Length")
        self.exchanges += 1
        return BytearrayStream(body)


def post(connection, path, content_type, body):
    connection.request("POST", path, body=body,
                       headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
    response = connection.getresponse()
    return response, response.read()


XML_QUERY = """<RequestMessage>
  <RequestHeader>
    <ProtocolVersion>
      <ProtocolVersionMajor type="Integer" value="{major}"/>
      <ProtocolVersionMinor type="Integer" value="{minor}"/>
    </ProtocolVersion>
    <BatchCount type="Integer" value="1"/>
  </RequestHeader>
  <BatchItem>
    <Operation type="Enumeration" value="Query"/>
    <RequestPayload>
      <QueryFunction type="Enumeration" value="QueryOperations"/>
    </RequestPayload>
  </BatchItem>
</RequestMessage>"""


def json_discover_versions(major, minor):
    def integer(tag, value):
        return {"tag": tag, "type": "Integer", "value": value}
    return json.dumps({"tag": "RequestMessage", "value": [
        {"tag": "RequestHeader", "value": [
            {"tag": "ProtocolVersion", "value": [
                integer("ProtocolVersionMajor", major),
                integer("ProtocolVersionMinor", minor)]},
            integer("BatchCount", 1)]},
        {"tag": "BatchItem", "value": [
            {"tag": "Operation", "type": "Enumeration", "value": "DiscoverVersions"},
            {"tag": "RequestPayload", "value": []}]}]})


def main():
    parser = argparse.ArgumentParser()
    for name in ("host", "port", "ca", "cert", "key", "version", "tag"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--path", default="/kmip")
    args = parser.parse_args()
    major, minor = (int(p) for p in args.version.split("."))

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
    context.load_cert_chain(args.cert, args.key)
    connection = http.client.HTTPSConnection(
        args.host, int(args.port), context=context, timeout=30)
    transport = HttpsTransport(connection, args.path)

    client = ProxyKmipClient(
        hostname=args.host, port=int(args.port), cert=args.cert, key=args.key,
        ca=args.ca, kmip_version=VERSIONS[args.version])
    # Instead of client.open(): no TTLV socket, PyKMIP's messages go over HTTP.
    client.proxy.protocol = transport
    client._is_open = True

    failures = []
    state = {}

    def step(name, fn):
        try:
            detail = fn()
            print("ok {}: {}".format(name, detail))
        except Exception as e:
            failures.append(name)
            print("FAIL {}: {}".format(name, e))
            traceback.print_exc(file=sys.stdout)

    name = "https-{}-{}".format(args.tag, args.version)
    attrs = AttributeFactory()

    def create():
        uid = client.create(enums.CryptographicAlgorithm.AES, 256, name=name)
        state["created"] = uid
        key = client.get(uid)
        check(len(key.value) == 32, "{} key bytes".format(len(key.value)))
        return uid

    def register():
        material = bytes(range(32))
        uid = client.register(objects.SymmetricKey(
            enums.CryptographicAlgorithm.AES, 256, material,
            masks=[enums.CryptographicUsageMask.ENCRYPT,
                   enums.CryptographicUsageMask.DECRYPT]))
        got = client.get(uid)
        check(bytes(got.value) == material, "bytes read back differ")
        state["registered"] = uid
        return uid

    def locate():
        found = client.locate(attributes=[
            attrs.create_attribute(enums.AttributeType.NAME, name)])
        check(found == [state["created"]], "located {}".format(found))
        return found

    def lifecycle():
        uid = state["created"]
        client.activate(uid)
        _, got = client.get_attributes(uid, ["State"])
        check(got[0].attribute_value.value == enums.State.ACTIVE, "not Active")
        client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        client.destroy(uid)
        client.destroy(state["registered"])
        try:
            client.get(uid)
        except exceptions.KmipOperationFailure as e:
            # 1.x: Item Not Found; 2.x: Object Destroyed.
            check(e.reason in (enums.ResultReason.ITEM_NOT_FOUND,
                               enums.ResultReason.OBJECT_DESTROYED),
                  "Get of a destroyed key failed with {}".format(e.reason))
            return "destroyed: {}".format(e.reason.name)
        raise StepFailed("Get of a destroyed key succeeded")

    def one_connection():
        check(len(transport.sockets) == 1,
              "{} connections for {} exchanges".format(len(transport.sockets),
                                                        transport.exchanges))
        return "{} exchanges on one kept-alive connection".format(transport.exchanges)

    def xml_body():
        response, body = post(connection, args.path, "text/xml",
                              XML_QUERY.format(major=major, minor=minor).encode())
        check(response.status == 200, "HTTP {}".format(response.status))
        check(response.getheader("Content-Type") == "text/xml", "Content-Type")
        text = body.decode()
        check(text.lstrip().startswith("<ResponseMessage>"), text[:80])
        check('<ResultStatus type="Enumeration" value="Success"/>' in text, text[:400])
        check('value="Create"' in text, "Create not among the operations")
        return "{} bytes of XML".format(len(body))

    def json_body():
        response, body = post(connection, args.path, "application/json",
                              json_discover_versions(major, minor).encode())
        check(response.status == 200, "HTTP {}".format(response.status))
        check(response.getheader("Content-Type") == "application/json", "Content-Type")
        message = json.loads(body)
        check(message["tag"] == "ResponseMessage", message["tag"])
        items = [i for i in message["value"] if i["tag"] == "BatchItem"]
        status = [f["value"] for f in items[0]["value"] if f["tag"] == "ResultStatus"]
        check(status == ["Success"], "Result Status {}".format(status))
        return "Discover Versions answered in JSON"

    def not_kmip():
        connection.request("GET", args.path)
        response = connection.getresponse()
        response.read()
        check(response.status == 405, "HTTP {}".format(response.status))
        check(response.getheader("Allow") == "POST", "Allow")
        # The connection goes on after a refusal whose length was known.
        response, body = post(connection, args.path, "text/xml",
                              XML_QUERY.format(major=major, minor=minor).encode())
        check(response.status == 200, "HTTP {} after the refusal".format(response.status))
        return "GET refused with 405, the next POST answered"

    step("create+get", create)
    step("register+get", register)
    step("locate", locate)
    step("activate+revoke+destroy", lifecycle)
    step("keep-alive", one_connection)
    step("xml", xml_body)
    step("json", json_body)
    step("not-kmip", not_kmip)
    connection.close()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
