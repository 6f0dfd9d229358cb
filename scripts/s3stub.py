#!/usr/bin/env python3
"""A tiny in-memory S3-compatible server that IGNORES conditional writes (issue 7's negative test).

Every PUT overwrites: `If-None-Match: *` and `If-Match` are ignored on PutObject, CopyObject and
CompleteMultipartUpload, as on the object stores that silently lose commits (lance#6595). dstore
must notice (its put-if-absent probe: two creates of one scratch key, the second must fail) and
refuse to commit to such a store. With --honour-conditional-writes the same server honours them
instead (412 PreconditionFailed), which makes a control case for that test.

    python3 scripts/s3stub.py [--port 0] [--host 127.0.0.1] [--honour-conditional-writes] [-v]

Once it is listening it prints exactly one line to stdout, `s3stub listening on http://HOST:PORT`
(--port 0 picks a free port), and then serves until SIGTERM or Ctrl-C. Standard library only.

What it serves, path-style only (`/bucket/key`), for what the Rust `object_store` crate's
AmazonS3 client sends (and scripts/s3probe.py): any bucket exists implicitly; no signature is
checked (any Authorization header, or none, is accepted); objects live in a dict in memory.

  PUT /b/k               PutObject (ETag = quoted md5 hex); with x-amz-copy-source: CopyObject
  GET, HEAD /b/k         Range: bytes=a-b | a- | -n (206 + Content-Range, 416 InvalidRange),
                         If-Match / If-None-Match / If-(Un)Modified-Since (412 / 304)
  DELETE /b/k            204, also for a missing key
  GET /b?list-type=2     ListObjectsV2: prefix, delimiter, start-after, max-keys, continuation-token
  GET /b                 ListObjects (v1): prefix, delimiter, marker, max-keys
  POST /b?delete         DeleteObjects (bulk delete)
  POST /b/k?uploads      CreateMultipartUpload
  PUT /b/k?partNumber=N&uploadId=U    UploadPart (or UploadPartCopy with x-amz-copy-source)
  POST /b/k?uploadId=U   CompleteMultipartUpload (parts in the order listed, ETags checked)
  DELETE /b/k?uploadId=U AbortMultipartUpload
  PUT, HEAD, DELETE /b   bucket create / exists / delete;  GET /  ListBuckets
  GET /_stub/stats       JSON request counts per operation (DELETE /_stub/stats resets them)

Request bodies may come with Content-Length, `Transfer-Encoding: chunked`, and/or aws-chunked
encoding (x-amz-content-sha256: STREAMING-...). A hex x-amz-content-sha256 or a Content-MD5 is
checked against the body, as S3 does. Errors are S3's XML error bodies (NoSuchKey, ...).
"""

import argparse
import base64
import datetime
import email.utils
import hashlib
import http.server
import json
import signal
import socketserver
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

S3NS = "http://s3.amazonaws.com/doc/2006-03-01/"
# Stored with an object and returned by GET/HEAD (besides x-amz-meta-*).
KEPT_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language", "cache-control")


class S3Error(Exception):
    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.headers = extra.pop("headers", {})
        self.status, self.code, self.message, self.extra = status, code, message, extra


def no_such_key(bucket, key):
    return S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key, BucketName=bucket)


class Obj:
    __slots__ = ("data", "etag", "mtime", "headers")

    def __init__(self, data, etag, headers, mtime=None):
        self.data, self.etag, self.headers = data, etag, headers
        # S3 reports times to the second in headers, to the millisecond in listings.
        self.mtime = mtime if mtime is not None else round(time.time(), 3)


def http_date(t):
    return email.utils.formatdate(int(t), usegmt=True)


def iso_date(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def md5_etag(data):
    return '"' + hashlib.md5(data).hexdigest() + '"'


def etag_matches(header, etag):
    """If-Match / If-None-Match list semantics; ETags compared with or without quotes."""
    bare = etag.strip('"')
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag.strip('"') == bare:
            return True
    return False


def xml_doc(root, body):
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{S3NS}">{body}</{root}>'.encode()


def el(name, value):
    return f"<{name}>{escape(str(value))}</{name}>"


def strip_ns(tag):
    return tag.rsplit("}", 1)[-1]


class Store:
    """All state, behind one lock (requests run on one thread each)."""

    def __init__(self, honour_conditional):
        self.lock = threading.Lock()
        self.objects = {}  # (bucket, key) -> Obj
        self.buckets = {}  # bucket -> creation time (created explicitly or by a first write)
        self.uploads = {}  # upload id -> {"bucket", "key", "headers", "parts": {n: Obj}}
        self.completed = {}  # upload id -> the CompleteMultipartUploadResult, for a retried complete
        self.stats = {}
        self.honour_conditional = honour_conditional

    def count(self, op):
        with self.lock:
            self.stats[op] = self.stats.get(op, 0) + 1

    def touch_bucket(self, bucket):
        self.buckets.setdefault(bucket, time.time())

    def check_write_conditions(self, bucket, key, headers):
        """Only with --honour-conditional-writes; by default the stub ignores these headers."""
        if not self.honour_conditional:
            return
        cur = self.objects.get((bucket, key))
        inm, im = headers.get("If-None-Match"), headers.get("If-Match")
        if inm is not None and cur is not None and etag_matches(inm, cur.etag):
            raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                          Condition="If-None-Match")
        if im is not None:
            if cur is None:
                raise no_such_key(bucket, key)
            if not etag_matches(im, cur.etag):
                raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                              Condition="If-Match")


def decode_aws_chunked(raw):
    """aws-chunked: `hex-size[;chunk-signature=...]\\r\\n data \\r\\n` ... `0...\\r\\n` [trailers]."""
    out, pos = bytearray(), 0
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            raise S3Error(400, "IncompleteBody", "aws-chunked body ends inside a chunk header")
        try:
            size = int(raw[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise S3Error(400, "InvalidRequest", "bad aws-chunked chunk header") from None
        pos = eol + 2
        if size == 0:
            return bytes(out)  # any trailers (x-amz-checksum-*, x-amz-trailer-signature) follow
        if pos + size > len(raw):
            raise S3Error(400, "IncompleteBody", "aws-chunked body shorter than its chunk sizes")
        out += raw[pos:pos + size]
        pos += size
        if raw[pos:pos + 2] == b"\r\n":
            pos += 2


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: object_store (reqwest) pools connections
    server_version = "s3stub/1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    store: Store = None
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("s3stub: %s %s\n" % (self.address_string(), fmt % args))

    # ---- request plumbing ----

    def read_body(self):
        if self._body is not None:
            return self._body
        if self._consumed:
            raise S3Error(400, "IncompleteBody", "the request body could not be read")
        self._consumed = True
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            buf = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise S3Error(400, "IncompleteBody", "connection closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                buf += self.rfile.read(size)
                self.rfile.readline(65537)
            raw = bytes(buf)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            if len(raw) != n:
                self.close_connection = True
                raise S3Error(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header")
        self._raw_done = True  # the connection is in step again whatever the checks below say
        sha = self.headers.get("x-amz-content-sha256") or ""
        enc = (self.headers.get("Content-Encoding") or "").lower()
        if sha.startswith("STREAMING-") or "aws-chunked" in enc:
            raw = decode_aws_chunked(raw)
            declared = self.headers.get("x-amz-decoded-content-length")
            if declared is not None and int(declared) != len(raw):
                raise S3Error(400, "IncompleteBody", "x-amz-decoded-content-length does not match the body")
        elif len(sha) == 64 and hashlib.sha256(raw).hexdigest() != sha.lower():
            raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
        md5 = self.headers.get("Content-MD5")
        if md5 and base64.b64encode(hashlib.md5(raw).digest()).decode() != md5.strip():
            raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        self._body = raw
        return raw

    def send(self, status, body=b"", headers=None, content_type="application/xml"):
        self.send_response(status)
        headers = dict(headers or {})
        headers["x-amz-request-id"] = self.request_id
        if body and content_type:
            headers.setdefault("Content-Type", content_type)
        headers.setdefault("Content-Length", str(len(body)))
        if self.close_connection:
            headers["Connection"] = "close"
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_error_xml(self, e):
        fields = "".join(el(k, v) for k, v in e.extra.items())
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{el("Code", e.code)}{el("Message", e.message)}'
                f'{fields}{el("RequestId", self.request_id)}</Error>').encode()
        if self.command == "HEAD":
            body = b""  # S3 sends no body with HEAD errors
        self.send(e.status, body, e.headers)

    def dispatch(self):
        self.request_id = uuid.uuid4().hex[:16].upper()
        self._body, self._consumed, self._raw_done = None, False, False
        u = urllib.parse.urlsplit(self.path)
        # In the query '+' means space (reqwest's form encoding); in the path it is a literal '+'.
        self.query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        path = urllib.parse.unquote(u.path)
        try:
            if path.startswith("/_stub/"):
                self.stub_admin(path)
                return
            bucket, _, key = path.lstrip("/").partition("/")
            if not bucket:
                self.service()
            elif not key:
                self.bucket_op(bucket)
            else:
                self.object_op(bucket, key)
        except S3Error as e:
            if not self._consumed:
                try:
                    self.read_body()  # keep the connection in step
                except (S3Error, ValueError, OSError):
                    self.close_connection = True
            elif not self._raw_done:
                self.close_connection = True  # the body was not read to its end
            self.send_error_xml(e)
        except (ValueError, ET.ParseError) as e:
            self.close_connection = True
            self.send_error_xml(S3Error(400, "InvalidRequest", f"bad request: {e}"))
        except (ConnectionError, TimeoutError):
            raise
        except Exception as e:  # a bug here: say so rather than drop the connection
            traceback.print_exc()
            self.close_connection = True
            self.send_error_xml(S3Error(500, "InternalError", f"s3stub: {type(e).__name__}: {e}"))

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = dispatch

    # ---- operations ----

    def op(self, name):
        self.store.count(name)

    def stub_admin(self, path):
        if path == "/_stub/stats" and self.command == "GET":
            with self.store.lock:
                body = json.dumps(self.store.stats, sort_keys=True).encode()
            self.send(200, body, content_type="application/json")
        elif path == "/_stub/stats" and self.command == "DELETE":
            with self.store.lock:
                self.store.stats.clear()
            self.send(204)
        else:
            raise S3Error(404, "NotFound", "stub admin paths: GET or DELETE /_stub/stats")

    def service(self):
        if self.command != "GET":
            raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        self.op("ListBuckets")
        with self.store.lock:
            names = sorted(self.store.buckets.items())
        body = "".join(f"<Bucket>{el('Name', n)}{el('CreationDate', iso_date(t))}</Bucket>" for n, t in names)
        self.send(200, xml_doc("ListAllMyBucketsResult",
                               f"<Owner><ID>s3stub</ID><DisplayName>s3stub</DisplayName></Owner><Buckets>{body}</Buckets>"))

    def bucket_op(self, bucket):
        q, st = self.query, self.store
        if self.command == "PUT":
            self.read_body()
            self.op("CreateBucket")
            with st.lock:
                st.touch_bucket(bucket)
            self.send(200, headers={"Location": "/" + bucket})
        elif self.command == "HEAD":
            self.op("HeadBucket")
            self.send(200)
        elif self.command == "DELETE":
            self.op("DeleteBucket")
            with st.lock:
                st.buckets.pop(bucket, None)
            self.send(204)
        elif self.command == "POST" and "delete" in q:
            self.delete_objects(bucket)
        elif self.command == "GET" and q.get("list-type") == "2":
            self.list_objects(bucket, v2=True)
        elif self.command == "GET" and not (set(q) - {"prefix", "delimiter", "marker", "max-keys", "encoding-type"}):
            self.list_objects(bucket, v2=False)
        else:
            raise S3Error(501, "NotImplemented", f"s3stub does not implement {self.command} /{bucket}?{'&'.join(q)}")

    def delete_objects(self, bucket):
        self.op("DeleteObjects")
        root = ET.fromstring(self.read_body())
        quiet = any(strip_ns(c.tag) == "Quiet" and (c.text or "").strip() == "true" for c in root)
        keys = [o.findtext(f"{{{S3NS}}}Key") or o.findtext("Key") for o in root if strip_ns(o.tag) == "Object"]
        with self.store.lock:
            for k in keys:
                self.store.objects.pop((bucket, k), None)
        body = "" if quiet else "".join(f"<Deleted>{el('Key', k)}</Deleted>" for k in keys)
        self.send(200, xml_doc("DeleteResult", body))

    def list_objects(self, bucket, v2):
        q = self.query
        self.op("ListObjectsV2" if v2 else "ListObjects")
        prefix, delim = q.get("prefix", ""), q.get("delimiter", "")
        max_keys = max(0, min(int(q.get("max-keys", "1000") or 1000), 1000))
        if v2:
            token = q.get("continuation-token")
            after = base64.urlsafe_b64decode(token.encode()).decode() if token else q.get("start-after", "")
        else:
            token, after = None, q.get("marker", "")
        with self.store.lock:
            keys = sorted(k for (b, k) in self.store.objects if b == bucket and k.startswith(prefix))
            objs = {k: self.store.objects[(bucket, k)] for k in keys}
        # One item per key, or per common prefix (keys under one prefix are contiguous when sorted,
        # so item names stay sorted and the last one returned can serve as the continuation point).
        items = []
        for k in keys:
            if delim:
                i = k.find(delim, len(prefix))
                if i >= 0:
                    cp = k[: i + len(delim)]
                    if not (items and items[-1] == ("p", cp)):
                        items.append(("p", cp))
                    continue
            items.append(("k", k))
        if after:
            # A common prefix that the marker lies inside (or equals) was returned already.
            items = [(t, n) for t, n in items if n > after and not (t == "p" and after.startswith(n))]
        page, truncated = items[:max_keys], len(items) > max_keys
        contents = "".join(
            f"<Contents>{el('Key', n)}{el('LastModified', iso_date(objs[n].mtime))}{el('ETag', objs[n].etag)}"
            f"{el('Size', len(objs[n].data))}{el('StorageClass', 'STANDARD')}</Contents>"
            for t, n in page if t == "k"
        )
        prefixes = "".join(f"<CommonPrefixes>{el('Prefix', n)}</CommonPrefixes>" for t, n in page if t == "p")
        head = el("Name", bucket) + el("Prefix", prefix) + el("MaxKeys", max_keys)
        if delim:
            head += el("Delimiter", delim)
        head += el("IsTruncated", "true" if truncated else "false")
        if v2:
            head += el("KeyCount", len(page))
            if token:
                head += el("ContinuationToken", token)
            if q.get("start-after"):
                head += el("StartAfter", q["start-after"])
            if truncated:
                head += el("NextContinuationToken", base64.urlsafe_b64encode(page[-1][1].encode()).decode())
        else:
            head += el("Marker", after)
            if truncated and delim:
                head += el("NextMarker", page[-1][1])
        self.send(200, xml_doc("ListBucketResult", head + contents + prefixes))

    def object_op(self, bucket, key):
        q, cmd = self.query, self.command
        if "uploads" in q and cmd == "POST":
            return self.create_multipart(bucket, key)
        if "uploadId" in q:
            if cmd == "PUT" and "partNumber" in q:
                return self.upload_part(bucket, key)
            if cmd == "POST":
                return self.complete_multipart(bucket, key)
            if cmd == "DELETE":
                return self.abort_multipart(bucket, key)
            raise S3Error(501, "NotImplemented", f"s3stub does not implement {cmd} with uploadId (ListParts)")
        if set(q) - {"versionId", "x-id"}:
            raise S3Error(501, "NotImplemented", f"s3stub does not implement the subresource ?{'&'.join(q)}")
        if cmd == "PUT":
            return self.put_object(bucket, key)
        if cmd in ("GET", "HEAD"):
            return self.get_object(bucket, key)
        if cmd == "DELETE":
            self.op("DeleteObject")
            with self.store.lock:
                self.store.objects.pop((bucket, key), None)
            return self.send(204)
        raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")

    def kept_headers(self):
        h = {}
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in KEPT_HEADERS or lk.startswith("x-amz-meta-"):
                if lk == "content-encoding":
                    v = ",".join(p for p in (s.strip() for s in v.split(",")) if p and p.lower() != "aws-chunked")
                    if not v:
                        continue
                h[lk] = v
        return h

    def copy_source(self):
        """The object named by x-amz-copy-source (`[/]bucket/key[?versionId=..]`, URL-encoded)."""
        src = urllib.parse.unquote(self.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
        b, _, k = src.partition("/")
        with self.store.lock:
            o = self.store.objects.get((b, k))
        if o is None:
            raise no_such_key(b, k)
        return o

    def checksum_headers(self):
        return {k: v for k, v in self.headers.items() if k.lower().startswith("x-amz-checksum-") and k.lower() != "x-amz-checksum-algorithm"}

    def put_object(self, bucket, key):
        st = self.store
        if "x-amz-copy-source" in self.headers:
            self.op("CopyObject")
            self.read_body()
            src = self.copy_source()
            headers = src.headers if (self.headers.get("x-amz-metadata-directive") or "COPY").upper() == "COPY" else self.kept_headers()
            o = Obj(src.data, src.etag, dict(headers))
            with st.lock:
                st.check_write_conditions(bucket, key, self.headers)
                st.objects[(bucket, key)] = o
                st.touch_bucket(bucket)
            return self.send(200, xml_doc("CopyObjectResult", el("LastModified", iso_date(o.mtime)) + el("ETag", o.etag)))
        self.op("PutObject")
        data = self.read_body()
        o = Obj(data, md5_etag(data), self.kept_headers())
        with st.lock:
            st.check_write_conditions(bucket, key, self.headers)  # a no-op unless --honour-conditional-writes
            st.objects[(bucket, key)] = o
            st.touch_bucket(bucket)
        self.send(200, headers={"ETag": o.etag, **self.checksum_headers()})

    def get_object(self, bucket, key):
        self.op("HeadObject" if self.command == "HEAD" else "GetObject")
        with self.store.lock:
            o = self.store.objects.get((bucket, key))
        if o is None:
            raise no_such_key(bucket, key)
        h = self.headers
        base = {"ETag": o.etag, "Last-Modified": http_date(o.mtime), "Accept-Ranges": "bytes"}
        secs = int(o.mtime)

        def since(name):
            v = h.get(name)
            d = email.utils.parsedate_to_datetime(v) if v else None
            return int(d.timestamp()) if d else None

        im, inm, ims, ius = h.get("If-Match"), h.get("If-None-Match"), since("If-Modified-Since"), since("If-Unmodified-Since")
        if im is not None and not etag_matches(im, o.etag):
            raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", Condition="If-Match")
        if im is None and ius is not None and secs > ius:
            raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", Condition="If-Unmodified-Since")
        if (inm is not None and etag_matches(inm, o.etag)) or (inm is None and ims is not None and secs <= ims):
            return self.send(304, headers=base, content_type=None)
        headers = {**base, **{k.title() if not k.startswith("x-amz-meta-") else k: v for k, v in o.headers.items()}}
        headers.setdefault("Content-Type", "binary/octet-stream")
        n = len(o.data)
        rng = h.get("Range")
        if rng and rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].strip().partition("-")
            if a == "":  # suffix: the last b bytes
                start, end = max(0, n - int(b)), n - 1
                if int(b) == 0:
                    start = n
            else:
                start, end = int(a), (min(int(b), n - 1) if b else n - 1)
            if start >= n or start > end:
                raise S3Error(416, "InvalidRange", "The requested range is not satisfiable", RangeRequested=rng,
                              ActualObjectSize=n, headers={"Content-Range": f"bytes */{n}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{n}"
            body = o.data[start:end + 1]
            headers["Content-Length"] = str(len(body))
            return self.send(206, body, headers)
        headers["Content-Length"] = str(n)
        self.send(200, o.data, headers)

    def create_multipart(self, bucket, key):
        self.op("CreateMultipartUpload")
        self.read_body()
        uid = uuid.uuid4().hex
        with self.store.lock:
            self.store.uploads[uid] = {"bucket": bucket, "key": key, "headers": self.kept_headers(), "parts": {}}
        self.send(200, xml_doc("InitiateMultipartUploadResult", el("Bucket", bucket) + el("Key", key) + el("UploadId", uid)))

    def the_upload(self, bucket, key):
        u = self.store.uploads.get(self.query["uploadId"])
        if u is None or u["bucket"] != bucket or u["key"] != key:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist.", UploadId=self.query["uploadId"])
        return u

    def upload_part(self, bucket, key):
        n = int(self.query["partNumber"])
        if not 1 <= n <= 10000:
            raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        if "x-amz-copy-source" in self.headers:
            self.op("UploadPartCopy")
            self.read_body()
            data = self.copy_source().data
            r = self.headers.get("x-amz-copy-source-range")
            if r and r.startswith("bytes="):
                a, _, b = r[6:].partition("-")
                data = data[int(a):int(b) + 1]
        else:
            self.op("UploadPart")
            data = self.read_body()
        part = Obj(data, md5_etag(data), {})
        with self.store.lock:
            self.the_upload(bucket, key)["parts"][n] = part
        if "x-amz-copy-source" in self.headers:
            return self.send(200, xml_doc("CopyPartResult", el("LastModified", iso_date(part.mtime)) + el("ETag", part.etag)))
        self.send(200, headers={"ETag": part.etag, **self.checksum_headers()})

    def complete_multipart(self, bucket, key):
        self.op("CompleteMultipartUpload")
        root = ET.fromstring(self.read_body() or b"<CompleteMultipartUpload/>")
        listed = []
        for p in root:
            if strip_ns(p.tag) != "Part":
                continue
            fields = {strip_ns(c.tag): (c.text or "").strip() for c in p}
            listed.append((int(fields.get("PartNumber", "0")), fields.get("ETag", "")))
        if not listed:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
        if [n for n, _ in listed] != sorted({n for n, _ in listed}):
            raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        st = self.store
        with st.lock:
            done = st.completed.get(self.query["uploadId"])
            if done is not None and done[0] == (bucket, key):
                return self.send(200, done[1])  # a retry after a lost response, as S3 allows
            u = self.the_upload(bucket, key)
            chunks, digests = [], b""
            for n, tag in listed:
                part = u["parts"].get(n)
                if part is None or part.etag.strip('"') != tag.strip('"'):
                    raise S3Error(400, "InvalidPart", "One or more of the specified parts could not be found.", PartNumber=n, ETag=tag)
                chunks.append(part.data)
                digests += hashlib.md5(part.data).digest()
            st.check_write_conditions(bucket, key, self.headers)  # a no-op unless --honour-conditional-writes
            o = Obj(b"".join(chunks), f'"{hashlib.md5(digests).hexdigest()}-{len(listed)}"', u["headers"])
            st.objects[(bucket, key)] = o
            st.touch_bucket(bucket)
            del st.uploads[self.query["uploadId"]]
            result = xml_doc("CompleteMultipartUploadResult",
                             el("Location", f"/{bucket}/{key}") + el("Bucket", bucket) + el("Key", key) + el("ETag", o.etag))
            st.completed[self.query["uploadId"]] = ((bucket, key), result)
        self.send(200, result)

    def abort_multipart(self, bucket, key):
        self.op("AbortMultipartUpload")
        with self.store.lock:
            self.the_upload(bucket, key)
            del self.store.uploads[self.query["uploadId"]]
        self.send(204)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of concurrent writers

    def handle_error(self, request, client_address):
        if Handler.verbose or not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # a client hanging up is not news


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port; 0 (the default) picks a free one")
    ap.add_argument("--honour-conditional-writes", action="store_true",
                    help="honour If-None-Match / If-Match on writes (a control case; the default ignores them)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    a = ap.parse_args()
    Handler.store = Store(a.honour_conditional_writes)
    Handler.verbose = a.verbose
    try:
        srv = Server((a.host, a.port), Handler)
    except OSError as e:
        sys.exit(f"s3stub: cannot listen on {a.host}:{a.port}: {e.strerror or e}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host = a.host if ":" not in a.host else f"[{a.host}]"
    print(f"s3stub listening on http://{host}:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
