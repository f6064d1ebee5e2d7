#!/usr/bin/env python3
"""Creates a blob container in Azurite (or any Blob endpoint, path-style), idempotently.

    python3 .ci/azurite_container.py HOST:PORT ACCOUNT KEY CONTAINER

Sends `PUT /{ACCOUNT}/{CONTAINER}?restype=container` signed with SharedKey (HMAC-SHA256 of the
Blob service string-to-sign, key = base64-decoded account key). 201 (created) and 409
(ContainerAlreadyExists) both count as success; anything else exits 1. object_store never
creates containers, so the Azure tests need this first. Standard library only.
"""

import base64
import email.utils
import hashlib
import hmac
import http.client
import sys

API_VERSION = "2021-08-06"


def string_to_sign(method, headers, account, path, query):
    """The SharedKey string-to-sign for the Blob service (versions 2015-02-21 and later)."""
    h = {k.lower(): v for k, v in headers.items()}
    content_length = h.get("content-length", "")
    if content_length == "0":
        content_length = ""
    standard = [
        method,
        h.get("content-encoding", ""),
        h.get("content-language", ""),
        content_length,
        h.get("content-md5", ""),
        h.get("content-type", ""),
        h.get("date", ""),
        h.get("if-modified-since", ""),
        h.get("if-match", ""),
        h.get("if-none-match", ""),
        h.get("if-unmodified-since", ""),
        h.get("range", ""),
    ]
    canonical_headers = "".join(
        f"{k}:{h[k].strip()}\n" for k in sorted(k for k in h if k.startswith("x-ms-")))
    # Path-style (emulator) URLs carry the account in the path too: "/acct/acct/container".
    resource = f"/{account}{path}"
    for name in sorted(query, key=str.lower):
        resource += f"\n{name.lower()}:{query[name]}"
    return "\n".join(standard) + "\n" + canonical_headers + resource


def main(argv):
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    hostport, account, key, container = argv[1:]
    host, _, port = hostport.rpartition(":")
    path = f"/{account}/{container}"
    query = {"restype": "container"}
    headers = {
        "x-ms-date": email.utils.formatdate(usegmt=True),
        "x-ms-version": API_VERSION,
        "Content-Length": "0",
    }
    signature = base64.b64encode(hmac.new(
        base64.b64decode(key),
        string_to_sign("PUT", headers, account, path, query).encode("utf-8"),
        hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {account}:{signature}"

    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("PUT", f"{path}?restype=container", body=b"", headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
    except OSError as e:
        print(f"azurite_container: cannot reach {hostport}: {e}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if resp.status == 201:
        print(f"container {container} created in {account}")
        return 0
    if resp.status == 409:
        print(f"container {container} already exists in {account}")
        return 0
    print(f"azurite_container: PUT {path}?restype=container answered {resp.status} "
          f"{resp.reason}: {body}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
