#!/usr/bin/env python3
"""Self-test of gcs_emulator.py (test tooling of zenml-rs; standard library only).

Starts the emulator on a free port and exercises, the way object_store 0.14's GCS client does
(percent-encoded bucket and object names, `list-type=2`, XML multipart, x-goog-copy-source
without a leading slash, x-goog-if-generation-match): put/get/range/head, conditional reads,
listing with prefix, delimiter and pagination, delete, multipart (out of order, abort, bad
ETag), copy (and copy-if-not-exists), the 412 preconditions, errors for a missing key or
bucket, 501 for unsupported requests, chunked uploads, versioned reads, and a large object
round trip (default 300 MiB, put and multipart) while checking the emulator's peak memory
(VmHWM in /proc/PID/status).

    python3 tools/gcs-emulator/selftest.py [--big-mib 300]

Exits non-zero on the first failure.
"""

import argparse
import email.utils
import hashlib
import http.client
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "gcs_emulator.py")
BUCKET = "zenml-test"
MIB = 1 << 20


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def enc(s):
    """object_store's encoding: every non-alphanumeric character (percent_encoding's
    NON_ALPHANUMERIC; Python's quote also keeps _.-~, so encode those by hand)."""
    out = quote(s, safe="")
    for c in "_.-~":
        out = out.replace(c, "%%%02X" % ord(c))
    return out


class Emulator:
    def __init__(self, *extra):
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--host", "127.0.0.1", "--port", "0", "--bucket", BUCKET,
             "--bucket", "other", "--quiet", *extra],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        check(line.startswith("gcs-emulator listening on http://"), f"bad start line: {line!r}")
        self.base = line.split()[3]
        self.port = int(self.base.rsplit(":", 1)[1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def status(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) // 1024  # MiB
        return -1

    def url(self, key=None, bucket=BUCKET, query=None):
        u = f"{self.base}/{enc(bucket)}"
        if key is not None:
            u += "/" + enc(key)
        if query is not None:
            u += "?" + (query if isinstance(query, str) else urlencode(query))
        return u

    def req(self, method, url, body=None, headers=None):
        """(status, headers, body bytes); never raises for an HTTP status."""
        headers = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray)):
            pass  # an iterable; the caller sets Content-Length
        r = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(r, timeout=600) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()


def error_code(body):
    try:
        return ET.fromstring(body).findtext("Code")
    except ET.ParseError:
        return None


def strip_ns(tag):
    return tag.rsplit("}", 1)[-1]


def parse_list(body):
    root = ET.fromstring(body)
    keys, prefixes, token, truncated = [], [], None, None
    for child in root:
        t = strip_ns(child.tag)
        if t == "Contents":
            fields = {strip_ns(c.tag): c.text for c in child}
            check(fields.get("ETag", "").startswith('"'), f"list ETag {fields}")
            check(fields.get("LastModified", "").endswith("Z"), f"list LastModified {fields}")
            keys.append((fields["Key"], int(fields["Size"])))
        elif t == "CommonPrefixes":
            prefixes.append(child.find("{*}Prefix").text)
        elif t == "NextContinuationToken":
            token = child.text
        elif t == "IsTruncated":
            truncated = child.text == "true"
    check((token is not None) == bool(truncated), "IsTruncated and NextContinuationToken agree")
    return [k for k, _ in keys], prefixes, token


def list_all(emu, **params):
    """Follows continuation tokens the way object_store's stream_paginated does."""
    keys, prefixes, token, pages = [], [], None, 0
    while True:
        q = {"list-type": "2", **params}
        if token:
            q["continuation-token"] = token
        st, _, body = emu.req("GET", emu.url(query=q))
        check(st == 200, f"list {q}: {st} {body[:300]!r}")
        k, p, token = parse_list(body)
        keys += k
        prefixes += p
        pages += 1
        if not token:
            return keys, prefixes, pages


def test_basics(emu):
    key = "dir/sub file+ü&<x>.txt"
    data = b"hello, gcs emulator\n" * 10
    st, h, _ = emu.req("PUT", emu.url(key), data, {
        "Content-Type": "text/plain", "Cache-Control": "max-age=60",
        "Content-Language": "en-US", "Content-Disposition": 'attachment; filename="a.txt"',
        "x-goog-meta-test_key": "test value", "Content-Length": str(len(data))})
    check(st == 200, f"put: {st}")
    check(h["ETag"] == '"%s"' % hashlib.md5(data).hexdigest(), f"put ETag {h['ETag']}")
    gen = h["x-goog-generation"]
    check(gen and gen.isdigit(), "put x-goog-generation")
    check(h.get("Content-Encoding") is None and h.get("Cache-Control") is None,
          "a write's answer carries no stored Content-* headers")

    st, h, body = emu.req("GET", emu.url(key))
    check(st == 200 and body == data, f"get: {st}")
    check(h["ETag"] == '"%s"' % hashlib.md5(data).hexdigest(), "get ETag")
    check(h["x-goog-generation"] == gen, "get generation")
    check(int(h["Content-Length"]) == len(data), "get Content-Length")
    check(email.utils.parsedate_to_datetime(h["Last-Modified"]) is not None, "Last-Modified")
    check(h["Last-Modified"].endswith(" GMT"), "Last-Modified is RFC 1123")
    check(h["Content-Type"] == "text/plain", "Content-Type stored")
    check(h["Cache-Control"] == "max-age=60", "Cache-Control stored")
    check(h["Content-Language"] == "en-US", "Content-Language stored")
    check(h["Content-Disposition"] == 'attachment; filename="a.txt"', "Content-Disposition")
    check(h["x-goog-meta-test_key"] == "test value", "x-goog-meta-* stored")

    st, h2, body = emu.req("HEAD", emu.url(key))
    check(st == 200 and body == b"", f"head: {st}")
    check(h2["ETag"] == h["ETag"] and h2["Last-Modified"] == h["Last-Modified"], "head headers")
    check(int(h2["Content-Length"]) == len(data), "head Content-Length")

    # default Content-Type (http.client: urllib would add a form Content-Type)
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=60)
    conn.request("PUT", "/" + enc(BUCKET) + "/plain", body=b"x")
    r = conn.getresponse()
    r.read()
    conn.close()
    check(r.status == 200, f"put plain: {r.status}")
    st, h, _ = emu.req("HEAD", emu.url("plain"))
    check(h["Content-Type"] == "application/octet-stream", "default Content-Type")

    # unencoded slashes and dashes also work (curl-style)
    st, _, body = emu.req("GET", f"{emu.base}/{BUCKET}/{quote(key)}")
    check(st == 200 and body == data, "unencoded path")

    # an empty object
    st, h, _ = emu.req("PUT", emu.url("empty"), b"")
    check(st == 200, "put empty")
    st, h, body = emu.req("GET", emu.url("empty"))
    check(st == 200 and body == b"" and h["Content-Length"] == "0", "get empty")
    st, h, _ = emu.req("GET", emu.url("empty"), headers={"Range": "bytes=0-"})
    check(st == 416, f"range on empty object: {st}")
    print("ok   put/get/head, stored attributes")


def test_ranges(emu):
    data = bytes(range(256)) * 4  # 1024 bytes
    n = len(data)
    emu.req("PUT", emu.url("ranged"), data)
    cases = [("bytes=2-5", 2, 5), ("bytes=1000-", 1000, n - 1), ("bytes=-3", n - 3, n - 1),
             ("bytes=-5000", 0, n - 1), ("bytes=10-99999", 10, n - 1), ("bytes=0-0", 0, 0),
             ("bytes=0-1023", 0, 1023)]
    for rng, a, b in cases:
        st, h, body = emu.req("GET", emu.url("ranged"), headers={"Range": rng})
        check(st == 206, f"{rng}: status {st}")
        check(h["Content-Range"] == f"bytes {a}-{b}/{n}", f"{rng}: {h['Content-Range']}")
        check(body == data[a:b + 1] and int(h["Content-Length"]) == b - a + 1, f"{rng}: body")
        check(h["ETag"] and h["Last-Modified"], f"{rng}: meta headers")
    for rng in ("bytes=1024-", "bytes=5000-6000", "bytes=-0"):
        st, h, body = emu.req("GET", emu.url("ranged"), headers={"Range": rng})
        check(st == 416, f"{rng}: status {st}")
        check(h["Content-Range"] == f"bytes */{n}", f"{rng}: Content-Range {h['Content-Range']}")
        check(error_code(body) == "InvalidRange", f"{rng}: code")
    st, _, body = emu.req("GET", emu.url("ranged"), headers={"Range": "bytes=5-2"})
    check(st == 200 and body == data, "an invalid range is ignored")
    print("ok   ranges (206, Content-Range, 416)")


def test_conditional_reads(emu):
    emu.req("PUT", emu.url("cond"), b"foo")
    _, h, _ = emu.req("HEAD", emu.url("cond"))
    etag, lm = h["ETag"], h["Last-Modified"]
    ts = email.utils.parsedate_to_datetime(lm).timestamp()
    fmt = lambda t: email.utils.formatdate(t, usegmt=True)  # noqa: E731
    cases = [({"If-Match": etag}, 200), ({"If-Match": '"invalid"'}, 412),
             ({"If-Match": "invalid"}, 412), ({"If-Match": "*"}, 200),
             ({"If-None-Match": etag}, 304), ({"If-None-Match": "invalid"}, 200),
             ({"If-Modified-Since": lm}, 304), ({"If-Modified-Since": fmt(ts - 36000)}, 200),
             ({"If-Unmodified-Since": lm}, 200), ({"If-Unmodified-Since": fmt(ts + 36000)}, 200),
             ({"If-Unmodified-Since": fmt(ts - 36000)}, 412),
             ({"x-goog-if-generation-match": h["x-goog-generation"]}, 200),
             ({"x-goog-if-generation-match": "1"}, 412)]
    for headers, want in cases:
        for method in ("GET", "HEAD"):
            st, rh, body = emu.req(method, emu.url("cond"), headers=headers)
            check(st == want, f"{method} {headers}: {st}, wanted {want}")
            if st == 304:
                check(body == b"" and rh["ETag"] == etag, "304 has no body, has ETag")
            if st == 412 and method == "GET":
                check(error_code(body) == "PreconditionFailed", "412 code")
    print("ok   conditional reads (If-Match, If-None-Match, If-(Un)Modified-Since)")


def test_preconditions(emu):
    u = emu.url("pre/obj")
    st, h, _ = emu.req("PUT", u, b"a", {"x-goog-if-generation-match": "0"})
    check(st == 200, f"create: {st}")
    g1 = h["x-goog-generation"]
    st, _, body = emu.req("PUT", u, b"b", {"x-goog-if-generation-match": "0"})
    check(st == 412 and error_code(body) == "PreconditionFailed", f"create existing: {st}")
    check(emu.req("GET", u)[2] == b"a", "failed create left the object alone")
    st, h, _ = emu.req("PUT", u, b"c", {"x-goog-if-generation-match": g1})
    check(st == 200, f"update current: {st}")
    g2 = h["x-goog-generation"]
    check(int(g2) > int(g1), "generations increase")
    st, _, _ = emu.req("PUT", u, b"d", {"x-goog-if-generation-match": g1})
    check(st == 412, f"update stale: {st}")
    st, _, _ = emu.req("PUT", emu.url("pre/missing"), b"e", {"x-goog-if-generation-match": g2})
    check(st == 412, f"update missing: {st}")
    st, _, _ = emu.req("PUT", u, b"f", {"x-goog-if-generation-not-match": g2})
    check(st == 412, f"generation-not-match: {st}")
    check(emu.req("GET", u)[2] == b"c", "content after preconditions")
    st, _, body = emu.req("PUT", u, b"g", {"x-goog-if-generation-match": "abc"})
    check(st == 400, f"bad generation: {st}")
    st, _, body = emu.req("PUT", u, b"g", {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
    check(st == 400 and error_code(body) == "BadDigest", f"bad Content-MD5: {st}")
    print("ok   write preconditions (x-goog-if-generation-match 0/N -> 412)")


def test_errors_and_delete(emu):
    st, _, body = emu.req("GET", emu.url("no/such/key"))
    check(st == 404 and error_code(body) == "NoSuchKey", f"missing key: {st} {body!r}")
    st, _, body = emu.req("HEAD", emu.url("no/such/key"))
    check(st == 404 and body == b"", f"head missing key: {st}")
    st, _, body = emu.req("GET", emu.url("k", bucket="nonexistentname"))
    check(st == 404 and error_code(body) == "NoSuchBucket", f"missing bucket: {st}")
    st, _, body = emu.req("PUT", emu.url("k", bucket="nonexistentname"), b"x" * 100000)
    check(st == 404 and error_code(body) == "NoSuchBucket", f"put missing bucket: {st}")
    st, _, body = emu.req("GET", emu.url(bucket="nonexistentname", query="list-type=2"))
    check(st == 404 and error_code(body) == "NoSuchBucket", f"list missing bucket: {st}")
    st, _, _ = emu.req("HEAD", emu.url(bucket="nonexistentname"))
    check(st == 404, "head missing bucket")
    st, _, _ = emu.req("HEAD", emu.url())
    check(st == 200, "head bucket")

    emu.req("PUT", emu.url("del/me"), b"x")
    st, _, body = emu.req("DELETE", emu.url("del/me"))
    check(st == 204 and body == b"", f"delete: {st}")
    st, _, _ = emu.req("GET", emu.url("del/me"))
    check(st == 404, "deleted object is gone")
    st, _, body = emu.req("DELETE", emu.url("del/me"))
    check(st == 404 and error_code(body) == "NoSuchKey", f"delete missing: {st}")

    for method, url in (("GET", emu.url("k", query="acl")), ("POST", emu.url("k")),
                        ("PATCH", emu.url("k")), ("GET", emu.url()), ("GET", emu.base + "/"),
                        ("GET", emu.url(query="uploads"))):
        st, _, body = emu.req(method, url)
        check(st == 501 and error_code(body) == "NotImplemented", f"{method} {url}: {st}")
    print("ok   errors (NoSuchKey, NoSuchBucket, 501) and delete")


def test_list(emu):
    st, _, _ = emu.req("POST", emu.base + "/_emulator/reset")
    check(st == 200, "reset")
    keys, prefixes, _ = list_all(emu)
    check(keys == [] and prefixes == [], "empty after reset")
    names = ["foo/bar", "foo/bax", "foo/baz/bar", "foo/baz/banana", "fob/banana",
             "fongle/banana", "a/1", "a/2", "a/b/1", "a/b/2", "b/1", "c"]
    for n in names:
        emu.req("PUT", emu.url(n), n.encode())
    keys, prefixes, pages = list_all(emu)
    check(keys == sorted(names) and prefixes == [] and pages == 1, f"list all: {keys}")
    keys, _, pages = list_all(emu, **{"max-keys": "2"})
    check(keys == sorted(names) and pages == 6, f"paginated: {keys} {pages}")
    keys, _, pages = list_all(emu, **{"max-keys": "5"})
    check(keys == sorted(names) and pages == 3, f"paginated 5: {pages}")
    keys, prefixes, _ = list_all(emu, prefix="a/", delimiter="/")
    check(keys == ["a/1", "a/2"] and prefixes == ["a/b/"], f"delimiter: {keys} {prefixes}")
    keys, prefixes, pages = list_all(emu, delimiter="/", **{"max-keys": "2"})
    check(keys == ["c"] and prefixes == ["a/", "b/", "fob/", "fongle/", "foo/"],
          f"root delimiter paginated: {keys} {prefixes}")
    check(pages == 3, f"root delimiter pages: {pages}")
    keys, prefixes, _ = list_all(emu, prefix="fo", delimiter="/")
    check(keys == [] and prefixes == ["fob/", "fongle/", "foo/"], f"partial prefix: {prefixes}")
    keys, prefixes, _ = list_all(emu, prefix="foo/", delimiter="/", **{"max-keys": "1"})
    check(keys == ["foo/bar", "foo/bax"] and prefixes == ["foo/baz/"], "prefix delim page 1")
    keys, _, _ = list_all(emu, prefix="fo")
    check(keys == sorted(n for n in names if n.startswith("fo")), "partial prefix no delim")
    keys, _, _ = list_all(emu, **{"start-after": "foo/bax"})
    check(keys == ["foo/baz/banana", "foo/baz/bar"], f"start-after: {keys}")
    keys, _, _ = list_all(emu, prefix="foo/", **{"start-after": "foo/baz"})
    check(keys == ["foo/baz/banana", "foo/baz/bar"], f"start-after with prefix: {keys}")
    st, _, body = emu.req("GET", emu.url(query={"list-type": "2", "max-keys": "0"}))
    check(st == 200 and parse_list(body)[0] == [], "max-keys=0")
    st, _, body = emu.req("GET", emu.url(query={"list-type": "2", "continuation-token": "!!"}))
    check(st == 400, f"bad token: {st}")
    # exactly object_store's query for list_with_delimiter(Some("foo"))
    st, _, body = emu.req("GET", emu.url(query="list-type=2&delimiter=%2F&prefix=foo%2F"))
    k, p, _ = parse_list(body)
    check(k == ["foo/bar", "foo/bax"] and p == ["foo/baz/"], "object_store's list query")
    # a key with spaces and a plus, as serde_urlencoded sends it
    emu.req("PUT", emu.url("sp ace/a+b"), b"1")
    st, _, body = emu.req("GET", emu.url(query="list-type=2&prefix=sp+ace%2F"))
    check(parse_list(body)[0] == ["sp ace/a+b"], "prefix with a space")
    print("ok   list (prefix, delimiter, max-keys pagination, start-after)")


def test_multipart(emu):
    key = "mp/object.bin"
    u = emu.url(key)
    st, _, body = emu.req("POST", emu.url(key, query="uploads="), b"",
                          {"Content-Type": "text/csv", "x-goog-meta-who": "selftest",
                           "Content-Length": "0"})
    check(st == 200, f"initiate: {st}")
    upload_id = ET.fromstring(body).findtext("{*}UploadId")
    check(upload_id, "UploadId")
    parts = {1: os.urandom(5 * MIB), 2: os.urandom(5 * MIB), 3: b"tail"}
    etags = {}
    for n in (2, 3, 1):
        st, h, _ = emu.req("PUT", emu.url(key, query={"partNumber": n, "uploadId": upload_id}),
                           parts[n])
        check(st == 200 and h["ETag"], f"part {n}: {st}")
        etags[n] = h["ETag"]
    # replace part 3
    parts[3] = b"new tail"
    st, h, _ = emu.req("PUT", emu.url(key, query={"partNumber": 3, "uploadId": upload_id}),
                       parts[3])
    etags[3] = h["ETag"]

    st, _, _ = emu.req("HEAD", u)
    check(st == 404, "incomplete upload is invisible (HEAD)")
    check(key not in list_all(emu)[0], "incomplete upload is invisible (list)")

    def complete_xml(items):
        return ("<CompleteMultipartUpload>" + "".join(
            f"<Part><ETag>{e}</ETag><PartNumber>{n}</PartNumber></Part>" for n, e in items)
            + "</CompleteMultipartUpload>").encode()

    st, _, body = emu.req("POST", emu.url(key, query={"uploadId": upload_id}),
                          complete_xml([(1, etags[1]), (2, '"bad"'), (3, etags[3])]))
    check(st == 400 and error_code(body) == "InvalidPart", f"bad part ETag: {st}")
    st, _, body = emu.req("POST", emu.url(key, query={"uploadId": upload_id}),
                          complete_xml([(2, etags[2]), (1, etags[1])]))
    check(st == 400 and error_code(body) == "InvalidPartOrder", f"part order: {st}")

    st, h, body = emu.req("POST", emu.url(key, query={"uploadId": upload_id}),
                          complete_xml(sorted(etags.items())))
    check(st == 200, f"complete: {st} {body[:200]!r}")
    done_etag = ET.fromstring(body).findtext("{*}ETag")
    check(done_etag and done_etag.startswith('"'), "CompleteMultipartUploadResult ETag")
    check(h["x-goog-generation"], "complete x-goog-generation")
    st, h, got = emu.req("GET", u)
    full = parts[1] + parts[2] + parts[3]
    check(st == 200 and got == full, "multipart content")
    check(h["ETag"] == done_etag, "GET ETag equals the complete answer's ETag")
    check(h["Content-Type"] == "text/csv" and h["x-goog-meta-who"] == "selftest",
          "multipart attributes")
    st, _, body = emu.req("POST", emu.url(key, query={"uploadId": upload_id}),
                          complete_xml(sorted(etags.items())))
    check(st == 404 and error_code(body) == "NoSuchUpload", f"completed upload is gone: {st}")

    # abort
    st, _, body = emu.req("POST", emu.url("mp/aborted", query="uploads="), b"")
    aid = ET.fromstring(body).findtext("{*}UploadId")
    emu.req("PUT", emu.url("mp/aborted", query={"partNumber": 1, "uploadId": aid}), b"x")
    st, _, _ = emu.req("DELETE", emu.url("mp/aborted", query={"uploadId": aid}))
    check(st == 204, f"abort: {st}")
    st, _, _ = emu.req("GET", emu.url("mp/aborted"))
    check(st == 404, "aborted upload never became an object")
    st, _, body = emu.req("PUT", emu.url("mp/aborted", query={"partNumber": 2, "uploadId": aid}),
                          b"y")
    check(st == 404 and error_code(body) == "NoSuchUpload", f"part after abort: {st}")
    st, _, _ = emu.req("DELETE", emu.url("mp/aborted", query={"uploadId": aid}))
    check(st == 404, f"second abort: {st}")
    st, _, _ = emu.req("PUT", emu.url("mp/other", query={"partNumber": 1, "uploadId": upload_id}),
                       b"z")
    check(st == 404, "upload id of another object")

    # precondition on complete: create-if-not-exists over an existing object
    st, _, body = emu.req("POST", emu.url(key, query="uploads="), b"")
    pid = ET.fromstring(body).findtext("{*}UploadId")
    _, h, _ = emu.req("PUT", emu.url(key, query={"partNumber": 1, "uploadId": pid}), b"p")
    st, _, _ = emu.req("POST", emu.url(key, query={"uploadId": pid}),
                       complete_xml([(1, h["ETag"])]), {"x-goog-if-generation-match": "0"})
    check(st == 412, f"complete with x-goog-if-generation-match: 0 over existing: {st}")
    st, _, _ = emu.req("POST", emu.url(key, query={"uploadId": pid}),
                       complete_xml([(1, h["ETag"])]))
    check(st == 200, f"complete after a failed precondition: {st}")
    check(emu.req("GET", u)[2] == b"p", "last writer wins")

    # the exact XML quick-xml serialises for object_store
    st, _, body = emu.req("POST", emu.url("mp/qx", query="uploads="), b"")
    qid = ET.fromstring(body).findtext("{*}UploadId")
    _, h, _ = emu.req("PUT", emu.url("mp/qx", query={"partNumber": 1, "uploadId": qid}), b"q")
    xml = (f'<CompleteMultipartUpload><Part><ETag>{h["ETag"]}</ETag>'
           f"<PartNumber>1</PartNumber></Part></CompleteMultipartUpload>")
    st, _, _ = emu.req("POST", emu.url("mp/qx", query={"uploadId": qid}), xml.encode())
    check(st == 200, f"quick-xml style complete: {st}")
    print("ok   multipart (out of order, replace part, invisible until complete, abort, 412)")


def test_copy(emu):
    emu.req("PUT", emu.url("copy/src"), b"source", {"Content-Type": "text/x-src",
                                                    "x-goog-meta-m": "1"})
    src_header = f"{enc(BUCKET)}/{enc('copy/src')}"  # what object_store sends
    st, h, body = emu.req("PUT", emu.url("copy/dst"), b"",
                          {"x-goog-copy-source": src_header, "Content-Length": "0"})
    check(st == 200, f"copy: {st} {body!r}")
    check(h["ETag"] and h["x-goog-generation"], "copy answer headers")
    st, h, got = emu.req("GET", emu.url("copy/dst"))
    check(got == b"source" and h["Content-Type"] == "text/x-src" and h["x-goog-meta-m"] == "1",
          "copied content and metadata")
    st, _, _ = emu.req("PUT", emu.url("copy/dst"), b"",
                       {"x-goog-copy-source": src_header, "x-goog-if-generation-match": "0"})
    check(st == 412, f"copy-if-not-exists onto an existing object: {st}")
    st, _, _ = emu.req("PUT", emu.url("copy/new"), b"",
                       {"x-goog-copy-source": "/" + src_header, "x-goog-if-generation-match": "0"})
    check(st == 200, f"copy-if-not-exists onto a new key (leading slash): {st}")
    st, _, body = emu.req("PUT", emu.url("copy/x"), b"",
                          {"x-goog-copy-source": f"{BUCKET}/copy/none"})
    check(st == 404 and error_code(body) == "NoSuchKey", f"copy from a missing object: {st}")
    st, _, _ = emu.req("PUT", emu.url("copy/x", bucket="other"), b"",
                       {"x-goog-copy-source": src_header})
    check(st == 200 and emu.req("GET", emu.url("copy/x", bucket="other"))[2] == b"source",
          "copy across buckets")
    # the source changing or going away does not touch the copy
    emu.req("PUT", emu.url("copy/src"), b"changed")
    emu.req("DELETE", emu.url("copy/src"))
    check(emu.req("GET", emu.url("copy/dst"))[2] == b"source", "copy is independent")
    print("ok   copy (x-goog-copy-source, copy-if-not-exists 412, cross bucket)")


def test_chunked_and_keepalive(emu):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=60)
    path = "/" + enc(BUCKET) + "/" + enc("chunked/obj")
    conn.request("PUT", path, body=iter([b"abc", b"def" * 1000, b"g"]),
                  encode_chunked=True)
    r = conn.getresponse()
    r.read()
    check(r.status == 200, f"chunked put: {r.status}")
    for _ in range(3):  # the same connection, several requests
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        check(r.status == 200 and body == b"abc" + b"def" * 1000 + b"g", "keep-alive get")
    conn.request("GET", "/" + enc(BUCKET) + "/" + enc("missing"))
    r = conn.getresponse()
    r.read()
    check(r.status == 404, "404 on a kept-alive connection")
    conn.request("HEAD", path)
    r = conn.getresponse()
    r.read()
    check(r.status == 200, "head on a kept-alive connection")
    conn.request("GET", path)
    r = conn.getresponse()
    check(r.read().startswith(b"abc"), "get after head on the same connection")
    conn.close()
    print("ok   chunked upload, keep-alive")


def test_versioning():
    emu = Emulator("--versioning")
    try:
        _, h1, _ = emu.req("PUT", emu.url("v"), b"one")
        _, h2, _ = emu.req("PUT", emu.url("v"), b"two")
        st, h, body = emu.req("GET", emu.url("v", query={"generation": h1["x-goog-generation"]}))
        check(st == 200 and body == b"one" and h["x-goog-generation"] == h1["x-goog-generation"],
              "old generation readable")
        check(emu.req("GET", emu.url("v"))[2] == b"two", "current generation")
        emu.req("DELETE", emu.url("v"))
        st, _, body = emu.req("GET", emu.url("v", query={"generation": h2["x-goog-generation"]}))
        check(st == 200 and body == b"two", "deleted generation still readable")
        check(emu.req("GET", emu.url("v"))[0] == 404, "deleted current")
    finally:
        emu.stop()
    print("ok   --versioning (?generation=)")


def test_unversioned_generation(emu):
    _, h1, _ = emu.req("PUT", emu.url("nv"), b"one")
    _, h2, _ = emu.req("PUT", emu.url("nv"), b"two")
    st, _, _ = emu.req("GET", emu.url("nv", query={"generation": h1["x-goog-generation"]}))
    check(st == 404, "without versioning an old generation is gone")
    st, _, body = emu.req("GET", emu.url("nv", query={"generation": h2["x-goog-generation"]}))
    check(st == 200 and body == b"two", "current generation by number")
    print("ok   ?generation without versioning")


def blocks(total, seed):
    """Deterministic, non-repeating-ish data in 1 MiB blocks, without holding it all."""
    base = hashlib.sha256(seed).digest() * (MIB // 32)
    sent = 0
    i = 0
    while sent < total:
        n = min(MIB, total - sent)
        block = i.to_bytes(8, "big") + base[8:n] if n >= 8 else base[:n]
        yield block[:n]
        sent += n
        i += 1


def stream_put(emu, path_url, total, seed, query=""):
    md5 = hashlib.md5()

    def gen():
        for b in blocks(total, seed):
            md5.update(b)
            yield b

    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=600)
    conn.putrequest("PUT", path_url + query)
    conn.putheader("Content-Length", str(total))
    conn.endheaders()
    for b in gen():
        conn.send(b)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, r.headers, md5.hexdigest()


def stream_get(emu, path_url, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=600)
    conn.request("GET", path_url, headers=headers or {})
    r = conn.getresponse()
    md5 = hashlib.md5()
    size = 0
    while True:
        b = r.read(MIB)
        if not b:
            break
        md5.update(b)
        size += len(b)
    conn.close()
    return r.status, r.headers, size, md5.hexdigest()


def test_big(emu, mib):
    total = mib * MIB
    rss0 = emu.status("VmRSS")
    path = "/" + enc(BUCKET) + "/" + enc("big/object.bin")
    t0 = time.time()
    st, h, md5 = stream_put(emu, path, total, b"big")
    check(st == 200, f"big put: {st}")
    check(h["ETag"] == f'"{md5}"', "big put ETag is the MD5")
    t1 = time.time()
    st, h, size, got = stream_get(emu, path)
    check(st == 200 and size == total and got == md5, "big get round trip")
    t2 = time.time()
    st, h, size, _ = stream_get(emu, path, {"Range": f"bytes={total - 10}-"})
    check(st == 206 and size == 10, "range at the end of the big object")

    # multipart: three parts, the last one smaller
    p = "/" + enc(BUCKET) + "/" + enc("big/multipart.bin")
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=600)
    conn.request("POST", p + "?uploads=", body=b"")
    r = conn.getresponse()
    upload_id = ET.fromstring(r.read()).findtext("{*}UploadId")
    conn.close()
    sizes = [total // 3, total // 3, total - 2 * (total // 3)]
    etags, whole = [], hashlib.md5()
    for i, sz in enumerate(sizes):
        st, h, _ = stream_put(emu, p, sz, b"part%d" % i,
                              f"?partNumber={i + 1}&uploadId={upload_id}")
        check(st == 200, f"big part {i + 1}: {st}")
        etags.append(h["ETag"])
        for b in blocks(sz, b"part%d" % i):
            whole.update(b)
    xml = "<CompleteMultipartUpload>" + "".join(
        f"<Part><ETag>{e}</ETag><PartNumber>{i + 1}</PartNumber></Part>"
        for i, e in enumerate(etags)) + "</CompleteMultipartUpload>"
    st, _, body = emu.req("POST", emu.url("big/multipart.bin", query={"uploadId": upload_id}),
                          xml.encode())
    check(st == 200, f"big complete: {st} {body[:200]!r}")
    t3 = time.time()
    st, h, size, got = stream_get(emu, p)
    check(st == 200 and size == total and got == whole.hexdigest(), "big multipart round trip")
    t4 = time.time()
    peak = emu.status("VmHWM")
    rss = emu.status("VmRSS")
    print(f"info big object {mib} MiB: put {t1 - t0:.1f}s, get {t2 - t1:.1f}s, multipart put "
          f"{t3 - t2:.1f}s, get {t4 - t3:.1f}s; emulator RSS {rss0} -> {rss} MiB, peak {peak} MiB")
    check(peak < 120, f"emulator peak memory {peak} MiB: bodies must be streamed")
    emu.req("DELETE", emu.url("big/object.bin"))
    emu.req("DELETE", emu.url("big/multipart.bin"))
    print(f"ok   {mib} MiB object and multipart round trip, memory stays small")


def main():
    parser = argparse.ArgumentParser(description="self-test of gcs_emulator.py")
    parser.add_argument("--big-mib", type=int, default=300,
                        help="size of the large-object round trip (0 skips it)")
    args = parser.parse_args()
    emu = Emulator()
    try:
        test_basics(emu)
        test_ranges(emu)
        test_conditional_reads(emu)
        test_preconditions(emu)
        test_errors_and_delete(emu)
        test_list(emu)
        test_multipart(emu)
        test_copy(emu)
        test_chunked_and_keepalive(emu)
        test_unversioned_generation(emu)
        if args.big_mib > 0:
            test_big(emu, args.big_mib)
        check(emu.proc.poll() is None, "the emulator is still running")
    except Failure as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    finally:
        emu.stop()
    try:
        test_versioning()
    except Failure as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    print("selftest passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
