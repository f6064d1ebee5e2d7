#!/usr/bin/env python3
"""A small Google Cloud Storage XML-API emulator for zenml-rs's tests.

This is test tooling of zenml-rs. It is never built, linked or shipped into a user's binary:
`.ci/services` starts it so that the GCS artifact-store tests have something to talk to on a
machine without Docker or network access. It uses the Python standard library only.

It implements exactly the subset of the GCS XML API that the Rust crate `object_store` 0.14
(`GoogleCloudStorageBuilder` with a custom base URL) sends, as read from that crate's
`src/gcp/client.rs`, `src/client/{get,header,list,s3,retry}.rs`:

  Objects, at `/{bucket}/{object}` (both percent-decoded; object_store encodes every
  non-alphanumeric character of both, `/` and `-` included):
    PUT     upload (body streamed to a file); `x-goog-if-generation-match` (0 = must not
            exist) and `x-goog-if-generation-not-match` -> 412; `Content-MD5` -> 400 BadDigest;
            stores Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
            Content-Language, `x-goog-storage-class` and `x-goog-meta-*`.
    PUT     with `x-goog-copy-source: [/]bucket/object` -> server-side copy (metadata copied,
            or taken from the request with `x-goog-metadata-directive: REPLACE`), honouring
            `x-goog-if-generation-match` on the destination (copy-if-not-exists).
    GET     with `Range: bytes=a-b | a- | -n` (206 + Content-Range; 416 when unsatisfiable),
            `If-Match` / `If-None-Match` / `If-Modified-Since` / `If-Unmodified-Since`
            (304 / 412), `x-goog-if-generation-match`, and `?generation=N`.
    HEAD    the same headers as GET, no body.
    DELETE  204; 404 NoSuchKey when missing; `?generation=N`, `x-goog-if-generation-match`.
  Every object response carries ETag (quoted MD5 hex; `"<md5 of part md5s>-<n>"` for a
  multipart object), Last-Modified (RFC 1123), Content-Length, Content-Type,
  x-goog-generation, x-goog-metageneration, x-goog-stored-content-length, x-goog-hash.

  Listing: `GET /{bucket}?list-type=2` with prefix, delimiter, max-keys (<= 1000),
    continuation-token and start-after -> S3-style `ListBucketResult` (Contents with Key,
    Generation, LastModified (ISO 8601), ETag, Size; CommonPrefixes; IsTruncated;
    NextContinuationToken), sorted by key.
  `HEAD /{bucket}`: 200, or 404 NoSuchBucket.

  XML multipart uploads:
    POST   /{bucket}/{object}?uploads                 -> InitiateMultipartUploadResult/UploadId
    PUT    /{bucket}/{object}?partNumber=N&uploadId=U -> ETag header
    POST   /{bucket}/{object}?uploadId=U              (CompleteMultipartUpload XML) -> parts
           concatenated in order into the object (file-to-file copy), x-goog-if-generation-match
           honoured, CompleteMultipartUploadResult with ETag, header x-goog-generation
    DELETE /{bucket}/{object}?uploadId=U              -> 204, abort
  An upload that is not completed never becomes a visible object.

  Emulator control (not GCS; GCS bucket names cannot start with `_`):
    GET  /_emulator/health            -> 200 "ok"
    POST /_emulator/reset             -> every object and upload is dropped, buckets stay
    PUT  /_emulator/buckets/{name}    -> creates a bucket

Unknown buckets answer 404 `NoSuchBucket`, missing objects 404 `NoSuchKey`, in GCS's XML
error format. Anything else answers 501 NotImplemented (status settable with
--unsupported-status; object_store retries 5xx answers) and is logged to stderr.

Object bodies live in files under a data directory (a fresh temporary directory, removed on
exit); request and response bodies are streamed in 1 MiB chunks (responses with sendfile), so
an object of 1 GiB never sits in memory. Metadata lives in memory: nothing survives a restart.
Without --versioning only the newest generation of an object is kept, as in a bucket without
object versioning.

Usage:
  python3 gcs_emulator.py --host 127.0.0.1 --port 4443 --bucket zenml-test [--bucket other]
                          [--data-dir DIR] [--versioning] [--quiet]
"""

import argparse
import base64
import datetime
import email.utils
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

CHUNK = 1 << 20
MAX_XML_BODY = 16 << 20
MAX_PARTS = 10000
MAX_LIST_KEYS = 1000
XML_DECL = "<?xml version='1.0' encoding='UTF-8'?>"

# Request headers stored with an object and returned on GET/HEAD, by their lower-case name.
STORED_HEADERS = (
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
)
META_PREFIX = "x-goog-meta-"


class GcsError(Exception):
    """An error answer in GCS's XML format."""

    def __init__(self, status, code, message, details=None, headers=()):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = list(headers)


def no_such_key(bucket, key):
    return GcsError(404, "NoSuchKey", "The specified key does not exist.",
                    f"No such object: {bucket}/{key}")


def no_such_upload(upload_id):
    return GcsError(404, "NoSuchUpload", "The requested upload was not found.",
                    f"No such upload: {upload_id}")


def precondition_failed(details):
    return GcsError(412, "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold.", details)


class Object:
    __slots__ = ("path", "size", "etag", "md5_b64", "generation", "mtime", "attrs", "meta",
                 "storage_class")

    def __init__(self, path, size, etag, md5_b64, generation, mtime, attrs, meta, storage_class):
        self.path = path            # file holding the body; never modified once written
        self.size = size
        self.etag = etag            # quoted
        self.md5_b64 = md5_b64      # None for multipart objects
        self.generation = generation
        self.mtime = mtime          # float seconds
        self.attrs = attrs          # {lower-case header: value} from STORED_HEADERS
        self.meta = meta            # {suffix: value} of x-goog-meta-*
        self.storage_class = storage_class


class Upload:
    __slots__ = ("upload_id", "bucket", "key", "attrs", "meta", "storage_class", "parts")

    def __init__(self, upload_id, bucket, key, attrs, meta, storage_class):
        self.upload_id = upload_id
        self.bucket = bucket
        self.key = key
        self.attrs = attrs
        self.meta = meta
        self.storage_class = storage_class
        self.parts = {}  # part number -> (path, etag, size, md5 digest)


def unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Store:
    """All state. Metadata changes happen under `lock`; bodies are streamed outside it."""

    def __init__(self, data_dir, buckets, versioning):
        self.lock = threading.Lock()
        self.data_dir = data_dir
        self.versioning = versioning
        self.buckets = {b: {} for b in buckets}       # bucket -> key -> Object
        self.noncurrent = {b: {} for b in buckets}    # bucket -> key -> {generation: Object}
        self.uploads = {}                             # upload id -> Upload
        self._generation = 0

    def temp_path(self):
        return os.path.join(self.data_dir, uuid.uuid4().hex)

    def next_generation(self):
        # Real generations are microsecond timestamps; keep them unique and increasing.
        self._generation = max(self._generation + 1, int(time.time() * 1_000_000))
        return self._generation

    def add_bucket(self, name):
        with self.lock:
            self.buckets.setdefault(name, {})
            self.noncurrent.setdefault(name, {})

    def bucket(self, name):
        """Objects of a bucket; the caller holds the lock."""
        try:
            return self.buckets[name]
        except KeyError:
            raise GcsError(404, "NoSuchBucket", "The specified bucket does not exist.",
                           f"No such bucket: {name}") from None

    def lookup(self, bucket, key, generation=None):
        """The current object, or a given generation; the caller holds the lock."""
        objects = self.bucket(bucket)
        obj = objects.get(key)
        if generation is None:
            if obj is None:
                raise no_such_key(bucket, key)
            return obj
        if obj is not None and obj.generation == generation:
            return obj
        old = self.noncurrent[bucket].get(key, {}).get(generation)
        if old is None:
            raise no_such_key(bucket, key)
        return old

    def retire(self, bucket, key, obj):
        """Drops an object that stopped being current; the caller holds the lock."""
        if self.versioning:
            self.noncurrent[bucket].setdefault(key, {})[obj.generation] = obj
        else:
            unlink_quietly(obj.path)

    def commit(self, bucket, key, path, size, etag, md5_b64, attrs, meta, storage_class):
        """Makes a fully written file the current object; the caller holds the lock."""
        objects = self.bucket(bucket)
        obj = Object(path, size, etag, md5_b64, self.next_generation(), time.time(),
                     attrs, meta, storage_class)
        old = objects.get(key)
        objects[key] = obj
        if old is not None:
            self.retire(bucket, key, old)
        return obj

    def reset(self):
        with self.lock:
            for name in self.buckets:
                for obj in self.buckets[name].values():
                    unlink_quietly(obj.path)
                for gens in self.noncurrent[name].values():
                    for obj in gens.values():
                        unlink_quietly(obj.path)
                self.buckets[name] = {}
                self.noncurrent[name] = {}
            for upload in self.uploads.values():
                for path, *_ in upload.parts.values():
                    unlink_quietly(path)
            self.uploads = {}


def check_generation_preconditions(headers, current):
    """x-goog-if-generation-match / -not-match against the current object (or none)."""
    cur = current.generation if current is not None else 0
    for name, want_equal in (("x-goog-if-generation-match", True),
                             ("x-goog-if-generation-not-match", False)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            wanted = int(value.strip())
        except ValueError:
            raise GcsError(400, "InvalidArgument", f"Invalid {name}: {value!r}") from None
        if (cur == wanted) != want_equal:
            raise precondition_failed(f"{name}: {value}, current generation: {cur or 'none'}")


def etag_list_matches(header_value, etag):
    bare = etag.strip('"')
    for tag in header_value.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag.strip('"') == bare:
            return True
    return False


def parse_http_date(value):
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def parse_range(value, size):
    """(start, end inclusive) for a single byte range, None to ignore the header."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not m:
        return None  # malformed or several ranges: answer the whole object
    first, last = m.groups()
    unsatisfiable = GcsError(416, "InvalidRange", "The requested range cannot be satisfied.",
                             f"Range: {value}, object size: {size}",
                             headers=[("Content-Range", f"bytes */{size}")])
    if first == "" and last == "":
        return None
    if first == "":
        n = int(last)
        if n == 0 or size == 0:
            raise unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise unsatisfiable
    end = size - 1 if last == "" else min(int(last), size - 1)
    return start, end


def iso8601(ts):
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def encode_token(kind, value):
    return base64.urlsafe_b64encode((kind + value).encode()).decode()


def decode_token(token):
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise GcsError(400, "InvalidArgument", "Invalid continuation token.") from None
    if not raw or raw[0] not in "kp":
        raise GcsError(400, "InvalidArgument", "Invalid continuation token.")
    return raw[1:], raw[0] == "p"


def copy_file_range_all(src, dst, count):
    """Copies count bytes from fd src (at its offset) to fd dst, in the kernel when it can."""
    remaining = count
    try:
        while remaining > 0:
            n = os.copy_file_range(src, dst, min(remaining, 1 << 30))
            if n == 0:
                break
            remaining -= n
    except (AttributeError, OSError):
        while remaining > 0:
            block = os.read(src, min(remaining, CHUNK))
            if not block:
                break
            os.write(dst, block)
            remaining -= len(block)
    if remaining:
        raise OSError(f"short copy: {remaining} bytes missing")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zenml-rs-gcs-emulator/1"
    disable_nagle_algorithm = True
    timeout = 300

    store = None  # set by main()
    quiet = False
    unsupported_status = 501

    # --- plumbing ---------------------------------------------------------------------

    def log_message(self, fmt, *args):
        if not self.quiet:
            sys.stderr.write("%s - [%s] %s\n" % (self.address_string(),
                                                 self.log_date_time_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def receive_body(self, out=None):
        """Reads the request body (Content-Length or chunked) in chunks, into the binary file
        `out` or nowhere. Returns (size, md5 digest). Idempotent: a second call reads nothing."""
        md5 = hashlib.md5()
        if self._body_done:
            return 0, md5.digest()
        self._body_done = True
        size = 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)

        def pump(count):
            nonlocal size
            while count > 0:
                n = self.rfile.readinto(view[:min(count, CHUNK)])
                if not n:
                    self.close_connection = True
                    raise GcsError(400, "IncompleteBody", "The request body ended early.")
                md5.update(view[:n])
                if out is not None:
                    out.write(view[:n])
                size += n
                count -= n

        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(65537)
                try:
                    length = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise GcsError(400, "InvalidRequest", "Bad chunked encoding.") from None
                if length == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                pump(length)
                self.rfile.readline(65537)  # CRLF after the chunk
        else:
            value = self.headers.get("Content-Length")
            if value:
                try:
                    length = int(value)
                except ValueError:
                    self.close_connection = True
                    raise GcsError(400, "InvalidRequest", "Bad Content-Length.") from None
                pump(length)
        return size, md5.digest()

    def read_small_body(self):
        """A request body of at most MAX_XML_BODY bytes, in memory (XML documents only)."""
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > MAX_XML_BODY:
            raise GcsError(400, "EntityTooLarge", "The XML document is too large.")

        class Sink:
            def __init__(self):
                self.parts = []
                self.size = 0

            def write(self, b):
                self.size += len(b)
                if self.size > MAX_XML_BODY:
                    raise GcsError(400, "EntityTooLarge", "The XML document is too large.")
                self.parts.append(bytes(b))

        sink = Sink()
        self.receive_body(sink)
        return b"".join(sink.parts)

    def respond(self, status, headers=(), body=b"", content_type=None, head=False):
        self.receive_body()  # never answer before the request body is consumed
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        names = set()
        for name, value in headers:
            self.send_header(name, value)
            names.add(name.lower())
        if content_type is not None and "content-type" not in names:
            self.send_header("Content-Type", content_type)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head and status not in (204, 304):
            self.wfile.write(body)

    def respond_xml(self, status, xml, headers=(), head=False):
        self.respond(status, headers, XML_DECL + xml, "application/xml; charset=UTF-8", head)

    def send_gcs_error(self, err, head=False):
        if err.status == 304:
            self.respond(304, err.headers, head=True)
            return
        details = f"<Details>{escape(err.details)}</Details>" if err.details else ""
        xml = (f"<Error><Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message>"
               f"{details}</Error>")
        self.respond_xml(err.status, xml, err.headers, head=head)

    def unsupported(self, method, what):
        msg = f"gcs_emulator does not implement {method} {self.path}: {what}"
        sys.stderr.write(msg + "\n")
        raise GcsError(self.unsupported_status, "NotImplemented", msg)

    def dispatch(self, method):
        self._body_done = False
        try:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            raw = url.path
            if raw.startswith("/_emulator/"):
                self.control(method, raw[len("/_emulator/"):])
                return
            bucket_raw, _, key_raw = raw.lstrip("/").partition("/")
            bucket, key = unquote(bucket_raw), unquote(key_raw)
            if not bucket:
                self.unsupported(method, "listing buckets is not supported")
            if key:
                self.object_request(method, bucket, key, query)
            else:
                self.bucket_request(method, bucket, query)
        except GcsError as err:
            try:
                self.send_gcs_error(err, head=(method == "HEAD"))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            try:
                self.send_gcs_error(GcsError(500, "InternalError", "Internal emulator error."))
            except OSError:
                pass

    @staticmethod
    def one(query, name):
        values = query.get(name)
        return values[-1] if values else None

    # --- emulator control -------------------------------------------------------------

    def control(self, method, rest):
        if method == "GET" and rest == "health":
            self.respond(200, body="ok\n", content_type="text/plain")
        elif method == "POST" and rest == "reset":
            self.store.reset()
            self.respond(200, body="reset\n", content_type="text/plain")
        elif method == "PUT" and rest.startswith("buckets/") and len(rest) > len("buckets/"):
            self.store.add_bucket(unquote(rest[len("buckets/"):]))
            self.respond(200, body="created\n", content_type="text/plain")
        else:
            self.unsupported(method, "unknown emulator control request")

    # --- buckets ------------------------------------------------------------------------

    def bucket_request(self, method, bucket, query):
        if method == "HEAD" and not query:
            with self.store.lock:
                self.store.bucket(bucket)
            self.respond(200, head=True)
        elif method == "GET" and self.one(query, "list-type") == "2":
            self.list_objects(bucket, query)
        elif method == "GET":
            with self.store.lock:
                self.store.bucket(bucket)
            self.unsupported(method, "only ListObjectsV2 (list-type=2) listing is supported")
        else:
            self.unsupported(method, "bucket operation not supported")

    def list_objects(self, bucket, query):
        prefix = self.one(query, "prefix") or ""
        delimiter = self.one(query, "delimiter") or ""
        start_after = self.one(query, "start-after")
        token = self.one(query, "continuation-token")
        max_keys_raw = self.one(query, "max-keys")
        try:
            max_keys = MAX_LIST_KEYS if max_keys_raw in (None, "") else int(max_keys_raw)
        except ValueError:
            raise GcsError(400, "InvalidArgument", f"Invalid max-keys: {max_keys_raw!r}") from None
        if max_keys < 0:
            raise GcsError(400, "InvalidArgument", f"Invalid max-keys: {max_keys_raw!r}")
        max_keys = min(max_keys, MAX_LIST_KEYS)

        marker, marker_is_prefix = (None, False)
        if token:
            marker, marker_is_prefix = decode_token(token)
        elif start_after:
            marker = start_after

        with self.store.lock:
            objects = self.store.bucket(bucket)
            snapshot = sorted(
                (k, o.size, o.mtime, o.etag, o.generation, o.storage_class)
                for k, o in objects.items() if k.startswith(prefix))

        entries = []  # ("k", row) or ("p", common prefix)
        truncated = False
        for row in snapshot:
            if max_keys == 0:
                break
            key = row[0]
            if marker is not None:
                if key <= marker or (marker_is_prefix and key.startswith(marker)):
                    continue
            entry = ("k", row)
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    if entries and entries[-1] == ("p", common):
                        continue
                    entry = ("p", common)
            if len(entries) >= max_keys:
                truncated = True
                break
            entries.append(entry)

        out = ['<ListBucketResult xmlns="http://doc.s3.amazonaws.com/2006-03-01">',
               f"<Name>{escape(bucket)}</Name>",
               f"<Prefix>{escape(prefix)}</Prefix>",
               f"<MaxKeys>{max_keys}</MaxKeys>",
               f"<KeyCount>{len(entries)}</KeyCount>"]
        if delimiter:
            out.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
        if start_after:
            out.append(f"<StartAfter>{escape(start_after)}</StartAfter>")
        if token:
            out.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        out.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if truncated:
            kind, last = entries[-1]
            value = last if kind == "p" else last[0]
            out.append(f"<NextContinuationToken>{encode_token(kind, value)}"
                       "</NextContinuationToken>")
        for kind, value in entries:
            if kind == "k":
                key, size, mtime, etag, generation, storage_class = value
                out.append(
                    f"<Contents><Key>{escape(key)}</Key><Generation>{generation}</Generation>"
                    f"<MetaGeneration>1</MetaGeneration>"
                    f"<LastModified>{iso8601(mtime)}</LastModified>"
                    f"<ETag>{escape(etag)}</ETag><Size>{size}</Size>"
                    f"<StorageClass>{escape(storage_class)}</StorageClass></Contents>")
        for kind, value in entries:
            if kind == "p":
                out.append(f"<CommonPrefixes><Prefix>{escape(value)}</Prefix></CommonPrefixes>")
        out.append("</ListBucketResult>")
        self.respond_xml(200, "".join(out))

    # --- objects ------------------------------------------------------------------------

    def object_request(self, method, bucket, key, query):
        upload_id = self.one(query, "uploadId")
        if method == "PUT" and upload_id is not None and "partNumber" in query:
            self.put_part(bucket, key, upload_id, self.one(query, "partNumber"))
        elif method == "POST" and "uploads" in query and upload_id is None:
            self.initiate_upload(bucket, key)
        elif method == "POST" and upload_id is not None:
            self.complete_upload(bucket, key, upload_id)
        elif method == "DELETE" and upload_id is not None:
            self.abort_upload(bucket, key, upload_id)
        elif upload_id is not None or "uploads" in query or "partNumber" in query:
            self.unsupported(method, "unsupported multipart request")
        elif method == "PUT" and "x-goog-copy-source" in self.headers:
            self.copy_object(bucket, key)
        elif method == "PUT" and not (set(query) - {"generation"}):
            self.put_object(bucket, key)
        elif method in ("GET", "HEAD") and not (set(query) - {"generation"}):
            self.get_object(bucket, key, self.generation_param(query), head=(method == "HEAD"))
        elif method == "DELETE" and not (set(query) - {"generation"}):
            self.delete_object(bucket, key, self.generation_param(query))
        else:
            self.unsupported(method, f"unsupported object request (query {sorted(query)})")

    def generation_param(self, query):
        value = self.one(query, "generation")
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise GcsError(400, "InvalidArgument", f"Invalid generation: {value!r}") from None

    def request_attributes(self):
        attrs = {}
        meta = {}
        for name, value in self.headers.items():
            lower = name.lower()
            if lower in STORED_HEADERS:
                attrs[lower] = value
            elif lower.startswith(META_PREFIX) and len(lower) > len(META_PREFIX):
                meta[lower[len(META_PREFIX):]] = value
        attrs.setdefault("content-type", "application/octet-stream")
        storage_class = self.headers.get("x-goog-storage-class", "STANDARD")
        return attrs, meta, storage_class

    def object_headers(self, obj):
        headers = [
            ("ETag", obj.etag),
            ("Last-Modified", email.utils.formatdate(obj.mtime, usegmt=True)),
            ("x-goog-generation", str(obj.generation)),
            ("x-goog-metageneration", "1"),
            ("x-goog-stored-content-length", str(obj.size)),
            ("x-goog-stored-content-encoding", obj.attrs.get("content-encoding", "identity")),
            ("x-goog-storage-class", obj.storage_class),
            ("Accept-Ranges", "bytes"),
        ]
        if obj.md5_b64:
            headers.append(("x-goog-hash", f"md5={obj.md5_b64}"))
        for name in STORED_HEADERS:
            if name in obj.attrs:
                headers.append((name.title(), obj.attrs[name]))
        for suffix, value in obj.meta.items():
            headers.append((META_PREFIX + suffix, value))
        return headers

    @staticmethod
    def write_headers(obj):
        """Headers of a write's answer: no stored Content-* headers, which would describe it."""
        headers = [("ETag", obj.etag), ("x-goog-generation", str(obj.generation)),
                   ("x-goog-metageneration", "1"),
                   ("x-goog-stored-content-length", str(obj.size))]
        if obj.md5_b64:
            headers.append(("x-goog-hash", f"md5={obj.md5_b64}"))
        return headers

    def put_object(self, bucket, key):
        with self.store.lock:
            self.store.bucket(bucket)
        attrs, meta, storage_class = self.request_attributes()
        path = self.store.temp_path()
        try:
            with open(path, "wb") as f:
                size, digest = self.receive_body(f)
            md5_b64 = base64.b64encode(digest).decode()
            sent_md5 = self.headers.get("Content-MD5")
            if sent_md5 is not None and sent_md5.strip() != md5_b64:
                raise GcsError(400, "BadDigest",
                               "The Content-MD5 you specified did not match what was received.")
            with self.store.lock:
                check_generation_preconditions(self.headers, self.store.bucket(bucket).get(key))
                obj = self.store.commit(bucket, key, path, size, f'"{digest.hex()}"', md5_b64,
                                        attrs, meta, storage_class)
        except BaseException:
            unlink_quietly(path)
            raise
        self.respond(200, self.write_headers(obj))

    def copy_object(self, bucket, key):
        source = self.headers["x-goog-copy-source"].strip()
        source = source.split("?", 1)[0].lstrip("/")
        src_bucket_raw, _, src_key_raw = source.partition("/")
        src_bucket, src_key = unquote(src_bucket_raw), unquote(src_key_raw)
        if not src_bucket or not src_key:
            raise GcsError(400, "InvalidArgument", f"Invalid x-goog-copy-source: {source!r}")
        self.receive_body()
        replace = self.headers.get("x-goog-metadata-directive", "COPY").upper() == "REPLACE"
        path = self.store.temp_path()
        with self.store.lock:
            self.store.bucket(bucket)
            src = self.store.lookup(src_bucket, src_key)
            check_generation_preconditions(self.headers, self.store.bucket(bucket).get(key))
            try:
                os.link(src.path, path)  # bodies are never modified in place
            except OSError:
                shutil.copyfile(src.path, path)
            if replace:
                attrs, meta, storage_class = self.request_attributes()
            else:
                attrs, meta = dict(src.attrs), dict(src.meta)
                storage_class = self.headers.get("x-goog-storage-class", src.storage_class)
            obj = self.store.commit(bucket, key, path, src.size, src.etag, src.md5_b64,
                                    attrs, meta, storage_class)
        xml = (f"<CopyObjectResult><LastModified>{iso8601(obj.mtime)}</LastModified>"
               f"<ETag>{escape(obj.etag)}</ETag></CopyObjectResult>")
        self.respond_xml(200, xml, self.write_headers(obj))

    def check_read_conditions(self, obj):
        h = self.headers
        cond_headers = [("ETag", obj.etag),
                        ("Last-Modified", email.utils.formatdate(obj.mtime, usegmt=True)),
                        ("x-goog-generation", str(obj.generation))]
        mtime = int(obj.mtime)  # Last-Modified has whole seconds
        if_match = h.get("If-Match")
        if if_match is not None:
            if not etag_list_matches(if_match, obj.etag):
                raise precondition_failed(f"If-Match: {if_match}, ETag: {obj.etag}")
        elif h.get("If-Unmodified-Since") is not None:
            since = parse_http_date(h["If-Unmodified-Since"])
            if since is not None and mtime > since:
                raise precondition_failed(f"If-Unmodified-Since: {h['If-Unmodified-Since']}")
        for name, must_equal in (("x-goog-if-generation-match", True),
                                 ("x-goog-if-generation-not-match", False)):
            value = h.get(name)
            if value is None:
                continue
            try:
                wanted = int(value)
            except ValueError:
                raise GcsError(400, "InvalidArgument", f"Invalid {name}: {value!r}") from None
            if must_equal and wanted != obj.generation:
                raise precondition_failed(f"{name}: {value}")
            if not must_equal and wanted == obj.generation:
                raise GcsError(304, "NotModified", "", headers=cond_headers)
        if_none_match = h.get("If-None-Match")
        if if_none_match is not None:
            if etag_list_matches(if_none_match, obj.etag):
                raise GcsError(304, "NotModified", "", headers=cond_headers)
        elif h.get("If-Modified-Since") is not None:
            since = parse_http_date(h["If-Modified-Since"])
            if since is not None and mtime <= since:
                raise GcsError(304, "NotModified", "", headers=cond_headers)

    def get_object(self, bucket, key, generation, head):
        with self.store.lock:
            obj = self.store.lookup(bucket, key, generation)
            f = open(obj.path, "rb")  # an open file outlives a concurrent delete
        try:
            self.check_read_conditions(obj)
            headers = self.object_headers(obj)
            start, length, status = 0, obj.size, 200
            range_header = self.headers.get("Range")
            if range_header is not None and not head:
                rng = parse_range(range_header, obj.size)
                if rng is not None:
                    start, end = rng
                    length = end - start + 1
                    status = 206
                    headers.append(("Content-Range", f"bytes {start}-{end}/{obj.size}"))
            headers.append(("Content-Length", str(length)))
            self.respond(status, headers, head=True)
            if not head and length:
                self.wfile.flush()
                try:
                    sent = self.connection.sendfile(f, start, length)
                except (AttributeError, OSError) as e:
                    if isinstance(e, (BrokenPipeError, ConnectionResetError)):
                        raise
                    sent = self.copy_to_client(f, start, length)
                if sent != length:
                    self.close_connection = True
        finally:
            f.close()

    def copy_to_client(self, f, start, length):
        f.seek(start)
        sent = 0
        while sent < length:
            block = f.read(min(CHUNK, length - sent))
            if not block:
                break
            self.wfile.write(block)
            sent += len(block)
        return sent

    def delete_object(self, bucket, key, generation):
        with self.store.lock:
            objects = self.store.bucket(bucket)
            current = objects.get(key)
            if generation is None or (current is not None and current.generation == generation):
                if current is None:
                    raise no_such_key(bucket, key)
                check_generation_preconditions(self.headers, current)
                del objects[key]
                if generation is None:
                    self.store.retire(bucket, key, current)
                else:
                    unlink_quietly(current.path)
            else:
                gens = self.store.noncurrent[bucket].get(key, {})
                old = gens.pop(generation, None)
                if old is None:
                    raise no_such_key(bucket, key)
                unlink_quietly(old.path)
        self.respond(204)

    # --- multipart uploads --------------------------------------------------------------

    def initiate_upload(self, bucket, key):
        attrs, meta, storage_class = self.request_attributes()
        self.receive_body()
        upload_id = secrets.token_urlsafe(24)
        with self.store.lock:
            self.store.bucket(bucket)
            self.store.uploads[upload_id] = Upload(upload_id, bucket, key, attrs, meta,
                                                   storage_class)
        xml = ('<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
               f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
               f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>")
        self.respond_xml(200, xml)

    def find_upload(self, bucket, key, upload_id):
        """The caller holds the lock."""
        self.store.bucket(bucket)
        upload = self.store.uploads.get(upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise no_such_upload(upload_id)
        return upload

    def put_part(self, bucket, key, upload_id, part_number):
        try:
            number = int(part_number)
        except (TypeError, ValueError):
            number = 0
        if not 1 <= number <= MAX_PARTS:
            raise GcsError(400, "InvalidArgument", f"Invalid partNumber: {part_number!r}")
        with self.store.lock:
            self.find_upload(bucket, key, upload_id)
        path = self.store.temp_path()
        try:
            with open(path, "wb") as f:
                size, digest = self.receive_body(f)
            etag = f'"{digest.hex()}"'
            with self.store.lock:
                upload = self.find_upload(bucket, key, upload_id)
                old = upload.parts.get(number)
                upload.parts[number] = (path, etag, size, digest)
            if old is not None:
                unlink_quietly(old[0])
        except BaseException:
            unlink_quietly(path)
            raise
        self.respond(200, [("ETag", etag)])

    def complete_upload(self, bucket, key, upload_id):
        body = self.read_small_body()
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise GcsError(400, "MalformedXML", f"Invalid CompleteMultipartUpload XML: {e}") \
                from None
        wanted = []
        for elem in root.iter():
            if elem.tag.rsplit("}", 1)[-1] != "Part":
                continue
            fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in elem}
            try:
                wanted.append((int(fields["PartNumber"]), fields.get("ETag", "")))
            except (KeyError, ValueError):
                raise GcsError(400, "MalformedXML", "A Part lacks a valid PartNumber.") \
                    from None
        if not wanted:
            raise GcsError(400, "MalformedXML", "CompleteMultipartUpload lists no parts.")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise GcsError(400, "InvalidPartOrder",
                           "The parts must be listed in ascending order of PartNumber.")

        files = []
        try:
            with self.store.lock:
                upload = self.find_upload(bucket, key, upload_id)
                for number, etag in wanted:
                    part = upload.parts.get(number)
                    if part is None or part[1].strip('"') != etag.strip('"'):
                        raise GcsError(400, "InvalidPart",
                                       "One or more of the specified parts could not be found "
                                       "or its ETag does not match.", f"part {number}")
                    # An open file outlives a concurrent abort or part replacement.
                    files.append((open(part[0], "rb"), part[2], part[3]))
            path = self.store.temp_path()
            try:
                combined = hashlib.md5()
                total = 0
                with open(path, "wb") as out:
                    for f, size, digest in files:
                        copy_file_range_all(f.fileno(), out.fileno(), size)
                        combined.update(digest)
                        total += size
                etag = f'"{combined.hexdigest()}-{len(files)}"'
                with self.store.lock:
                    upload = self.find_upload(bucket, key, upload_id)
                    check_generation_preconditions(self.headers,
                                                   self.store.bucket(bucket).get(key))
                    obj = self.store.commit(bucket, key, path, total, etag, None, upload.attrs,
                                            upload.meta, upload.storage_class)
                    del self.store.uploads[upload_id]
                    for part_path, *_ in upload.parts.values():
                        unlink_quietly(part_path)
            except BaseException:
                unlink_quietly(path)
                raise
        finally:
            for f, *_ in files:
                f.close()
        xml = ('<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
               f"<Location>/{escape(bucket)}/{escape(key)}</Location>"
               f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
               f"<ETag>{escape(obj.etag)}</ETag></CompleteMultipartUploadResult>")
        self.respond_xml(200, xml, self.write_headers(obj))

    def abort_upload(self, bucket, key, upload_id):
        with self.store.lock:
            upload = self.find_upload(bucket, key, upload_id)
            del self.store.uploads[upload_id]
            for path, *_ in upload.parts.values():
                unlink_quietly(path)
        self.respond(204)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4443, help="port (0 picks a free one)")
    parser.add_argument("--bucket", action="append", default=[],
                        help="a bucket to create at start; repeatable")
    parser.add_argument("--data-dir", help="folder in which a fresh folder for object bodies is "
                        "made (removed on exit); default: the system temporary folder")
    parser.add_argument("--versioning", action="store_true",
                        help="keep noncurrent generations, readable with ?generation=")
    parser.add_argument("--unsupported-status", type=int, default=501,
                        help="status for unsupported requests (default 501)")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)

    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
    data_dir = tempfile.mkdtemp(prefix="gcs-emulator-", dir=args.data_dir)

    Handler.store = Store(data_dir, args.bucket, args.versioning)
    Handler.quiet = args.quiet
    Handler.unsupported_status = args.unsupported_status

    Server.address_family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as e:
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"gcs-emulator: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(f"gcs-emulator listening on http://{host}:{port} buckets={','.join(args.bucket)} "
          f"data={data_dir}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
