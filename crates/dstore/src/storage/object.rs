//! Stores in object storage: [`ObjectStorage`], the [`Storage`] layer on the `object_store`
//! crate (S3 only in this build).
//!
//! A remote store has exactly the layout of a local one (`DSTORE`, `segments/`, `manifests/`,
//! `log/`) under its URL's prefix; see `docs/format.md`. What differs:
//!
//! - **Commits** are `PutMode::Create` (`If-None-Match: *`) of the next log record: of two
//!   writers on two machines exactly one creates record N, the other sees `AlreadyExists`,
//!   catches up and retries at N+1. A backend that ignores the condition would let both
//!   "win" and silently drop one commit, so before the first commit a client makes to a store
//!   it **probes** the backend (two creates of one scratch key; the second must fail) and
//!   refuses to write when the probe shows the condition is ignored, unless the caller opted
//!   into a single-writer store ([`RemoteOptions::single_writer`]).
//! - **Segments** are staged on the local disk while they are written and hashed (their key
//!   is their hash, known only at the end, and S3 has no rename), then uploaded under their
//!   key: one PUT up to [`MULTIPART_THRESHOLD`], a multipart upload of
//!   [`PART_SIZE`] parts (up to [`UPLOAD_CONCURRENCY`] in flight) above it. An object already
//!   under its key is not uploaded again. An upload that fails midway leaves no object (a
//!   multipart upload is aborted; an unfinished one is never visible), so no record can name
//!   a partial segment.
//! - **Reads** are range requests: scans fetch footers and the column chunks they decode.
//! - **The catalog** lives on the local disk, under the user's cache directory, keyed by the
//!   store URL ([`cache_dir_for`](super::cache_dir_for)); it is caught up from the remote log
//!   like a local one and losing it costs only time.
//!
//! `object_store` is async; this layer is not. Each `ObjectStorage` drives its client on a
//! small Tokio runtime of its own (two worker threads), rebuilt after `fork` (a forked child,
//! such as a PyTorch DataLoader worker, inherits neither the runtime's threads nor usable
//! connections).

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::SizeAndTime;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};

use super::url::{RemoteOptions, StoreUrl};
use super::{ObjectMeta, RequestCounts, StagedFile, Storage};
use crate::error::{Error, RemoteSetting, Result};

/// Objects up to this size are uploaded with one PUT; larger ones as multipart uploads.
pub const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// The part size of multipart uploads.
pub(crate) const PART_SIZE: usize = 16 << 20;
/// Parts of one upload in flight at once.
pub(crate) const UPLOAD_CONCURRENCY: usize = 4;
/// An unreferenced object older than this is uploaded again rather than reused (see
/// `put_staged_unreferenced`): well inside any sensible gc grace period (default 1 h).
const LEFTOVER_REFRESH: std::time::Duration = std::time::Duration::from_mins(10);
/// Log records fetched at once when catching up (`Storage::get_many`).
const GET_CONCURRENCY: usize = 32;
/// Reads of whole objects (`dstore verify`, checkout) go in requests of this size.
pub(crate) const READ_CHUNK: u64 = 8 << 20;

/// Attempts at a put-if-absent whose request fails (see `put_if_absent`), and the first wait
/// between them (doubling: 0.25 + 0.5 + 1 + 2 + 4 + 8 s, about 16 s in all).
const CREATE_ATTEMPTS: u32 = 7;
const CREATE_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(250);

/// The scratch key the put-if-absent probe creates twice (with a random suffix) and deletes.
const PROBE_PREFIX: &str = "tmp/probe-";
/// The file in a remote store's cache directory that records a passed probe.
const PROBE_STAMP: &str = "put-if-absent.ok";

struct Client {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
}

/// A store in an S3 bucket (or an S3-compatible server), through `object_store`.
pub struct ObjectStorage {
    url: StoreUrl,
    opts: RemoteOptions,
    cache_dir: PathBuf,
    client: Mutex<Option<(u32, Arc<Client>)>>,
    counts: Arc<RequestCounts>,
    probed: Mutex<bool>,
    part_hook: Mutex<Option<PartHook>>,
}

type PartHook = Arc<dyn Fn(u64) + Send + Sync>;

impl Drop for ObjectStorage {
    fn drop(&mut self) {
        // A client inherited through fork: its runtime's threads do not exist in this process,
        // and shutting the runtime down would wait for them forever. Leak it.
        let inherited = self
            .client
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .filter(|(pid, _)| *pid != std::process::id());
        if let Some((_, c)) = inherited {
            std::mem::forget(c);
        }
    }
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("url", &self.url.canonical())
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

fn remote_err(op: &'static str, url: String, e: object_store::Error) -> Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => std::io::ErrorKind::AlreadyExists,
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => std::io::ErrorKind::PermissionDenied,
        _ => std::io::ErrorKind::Other,
    };
    Error::Io {
        op,
        path: PathBuf::from(url),
        source: std::io::Error::new(kind, e),
    }
}

impl ObjectStorage {
    /// Storage for the store at `url` (`s3://bucket/prefix`), its catalog under `cache_dir`.
    /// Builds the client but sends no request.
    pub fn new(url: &str, opts: &RemoteOptions, cache_dir: PathBuf) -> Result<ObjectStorage> {
        let url = StoreUrl::parse(url)?;
        let s = ObjectStorage {
            url,
            opts: opts.clone(),
            cache_dir,
            client: Mutex::new(None),
            counts: Arc::default(),
            probed: Mutex::new(false),
            part_hook: Mutex::new(None),
        };
        s.client()?;
        Ok(s)
    }

    /// The store's canonical URL.
    pub fn url(&self) -> String {
        self.url.canonical()
    }

    /// Calls `hook` with the part number (from 1) before each part of a multipart upload is
    /// handed to the client. For fault-injection tests (stopping the server mid-upload).
    pub fn set_part_hook(&self, hook: impl Fn(u64) + Send + Sync + 'static) {
        *self
            .part_hook
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(hook));
    }

    /// The local directory of the store's catalog cache and staged files.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Whether no object exists under the store's prefix (one listing request, at most one
    /// page).
    pub fn is_empty(&self) -> Result<bool> {
        let c = self.client()?;
        let base = self.path("");
        let prefix = (!self.url.prefix.is_empty()).then_some(base);
        self.counts.lists.fetch_add(1, Ordering::Relaxed);
        let r =
            c.rt.block_on(c.store.list_with_delimiter(prefix.as_ref()))
                .map_err(|e| remote_err("list", self.url(), e))?;
        Ok(r.objects.is_empty() && r.common_prefixes.is_empty())
    }

    /// Requests made so far.
    pub fn counts(&self) -> &RequestCounts {
        &self.counts
    }

    fn build_client(&self) -> Result<Client> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&self.url.bucket);
        if let Some(ep) = &self.opts.endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"));
        }
        if self.opts.path_style_requests() {
            b = b.with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(|e| Error::RemoteConfig {
            url: self.url(),
            detail: format!("cannot configure the S3 client: {e}"),
            setting: RemoteSetting::Client,
        })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dstore-s3")
            .enable_all()
            .build()
            .map_err(Error::io("start the I/O runtime for", self.url()))?;
        Ok(Client {
            rt,
            store: Arc::new(store),
        })
    }

    /// This process's client (a fork gets a new one: see the module docs).
    fn client(&self) -> Result<Arc<Client>> {
        let mut g = self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pid = std::process::id();
        match g.take() {
            Some((p, c)) if p == pid => {
                *g = Some((p, c.clone()));
                return Ok(c);
            }
            // Inherited through fork: its threads are gone; dropping it could block.
            Some((_, c)) => std::mem::forget(c),
            None => {}
        }
        let c = Arc::new(self.build_client()?);
        *g = Some((pid, c.clone()));
        Ok(c)
    }

    fn path(&self, key: &str) -> ObjPath {
        debug_assert!(
            !key.starts_with('/') && !key.contains(".."),
            "bad key {key}"
        );
        if self.url.prefix.is_empty() {
            ObjPath::from(key)
        } else {
            ObjPath::from(format!("{}/{key}", self.url.prefix))
        }
    }

    fn key_url(&self, key: &str) -> String {
        format!("{}/{key}", self.url())
    }

    /// Runs `op` on each item (its key, its path and the rest) on this store's own runtime, up
    /// to [`GET_CONCURRENCY`] in flight (no thread pool that a fork could leave without its
    /// threads); results in the order of `items`, a failure tagged with its key.
    fn concurrently<X, T, Fut>(
        &self,
        items: Vec<(String, X)>,
        op: impl Fn(Arc<dyn ObjectStore>, ObjPath, X) -> Fut,
    ) -> Result<Vec<std::result::Result<T, (String, object_store::Error)>>>
    where
        Fut: std::future::Future<Output = object_store::Result<T>>,
    {
        let c = self.client()?;
        let store = c.store.clone();
        let jobs: Vec<(String, ObjPath, X)> = items
            .into_iter()
            .map(|(k, x)| {
                let p = self.path(&k);
                (k, p, x)
            })
            .collect();
        Ok(c.rt.block_on(async move {
            futures_util::stream::iter(jobs)
                .map(|(k, p, x)| {
                    let f = op(store.clone(), p, x);
                    async move { f.await.map_err(|e| (k, e)) }
                })
                .buffered(GET_CONCURRENCY)
                .collect()
                .await
        }))
    }

    fn run<T>(
        &self,
        op: &'static str,
        key: &str,
        f: impl AsyncFnOnce(&dyn ObjectStore, ObjPath) -> object_store::Result<T>,
    ) -> Result<T> {
        let c = self.client()?;
        let path = self.path(key);
        let store = c.store.clone();
        c.rt.block_on(async move { f(&*store, path).await })
            .map_err(|e| remote_err(op, self.key_url(key), e))
    }

    /// Probes whether the backend honours put-if-absent, once per client cache: creates a
    /// scratch key twice; the second create must fail.
    fn check_put_if_absent(&self) -> Result<()> {
        let mut probed = self
            .probed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *probed || self.opts.single_writer {
            return Ok(());
        }
        let stamp = self.cache_dir.join(PROBE_STAMP);
        if stamp.is_file() {
            *probed = true;
            return Ok(());
        }
        let key = format!(
            "{PROBE_PREFIX}{}",
            &blake3::hash(
                format!(
                    "{}-{:?}-{:?}",
                    std::process::id(),
                    SystemTime::now(),
                    std::thread::current().id()
                )
                .as_bytes()
            )
            .to_hex()[..16]
        );
        let first = self.create(&key, b"1")?;
        let second = self.create(&key, b"2");
        let _ = self.delete(&key);
        let honoured = match (first, second) {
            (true, Ok(false)) => true,
            (false, _) | (true, Ok(true)) => false,
            (true, Err(e)) => return Err(e),
        };
        if !honoured {
            return Err(Error::UnsafeBackend {
                url: self.url(),
                detail: "a second create of the same key succeeded: the backend ignores \
                         `If-None-Match: *`"
                    .into(),
            });
        }
        crate::storage::create_dir_all(&self.cache_dir)
            .map_err(Error::io("create directory", &self.cache_dir))?;
        std::fs::write(&stamp, format!("{}\n", self.url())).map_err(Error::io("write", &stamp))?;
        *probed = true;
        Ok(())
    }

    /// Objects under the directory `prefix` (after the key `after`, when given), as keys
    /// relative to the store with their metadata, sorted by key. One request per page.
    fn list_objects(
        &self,
        prefix: &str,
        after: Option<&str>,
    ) -> Result<Vec<(String, object_store::ObjectMeta)>> {
        let c = self.client()?;
        let base = self.path(prefix.trim_end_matches('/'));
        let offset = after.map(|a| self.path(a));
        let strip = if self.url.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.url.prefix)
        };
        let store = c.store.clone();
        self.counts.lists.fetch_add(1, Ordering::Relaxed);
        let metas: Vec<object_store::ObjectMeta> =
            c.rt.block_on(async move {
                let mut s = match &offset {
                    Some(o) => store.list_with_offset(Some(&base), o),
                    None => store.list(Some(&base)),
                };
                let mut out = Vec::new();
                while let Some(m) = s.next().await {
                    out.push(m?);
                }
                Ok::<_, object_store::Error>(out)
            })
            .map_err(|e| remote_err("list", self.key_url(prefix), e))?;
        let mut out: Vec<(String, object_store::ObjectMeta)> = metas
            .into_iter()
            .filter_map(|m| Some((m.location.as_ref().strip_prefix(&strip)?.to_owned(), m)))
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// `PutMode::Create`: `Ok(false)` when the key exists.
    fn create(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        self.counts.puts.fetch_add(1, Ordering::Relaxed);
        self.counts
            .bytes_out
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let payload = PutPayload::from(bytes.to_vec());
        let r = self.run("create", key, async |s, p| {
            s.put_opts(
                &p,
                payload,
                PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                },
            )
            .await
        });
        match r {
            Ok(_) => Ok(true),
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists
                    || is_precondition(&source) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn upload_file(&self, file: &Path, key: &str) -> Result<()> {
        let len = std::fs::metadata(file)
            .map_err(Error::io("read metadata of", file))?
            .len();
        let c = self.client()?;
        let path = self.path(key);
        let counts = self.counts.clone();
        let src = file.to_owned();
        let url = self.key_url(key);
        if len <= MULTIPART_THRESHOLD {
            let bytes = std::fs::read(&src).map_err(Error::io("read", &src))?;
            counts.puts.fetch_add(1, Ordering::Relaxed);
            counts.bytes_out.fetch_add(len, Ordering::Relaxed);
            return c
                .rt
                .block_on(c.store.put(&path, PutPayload::from(bytes)))
                .map(|_| ())
                .map_err(|e| remote_err("upload", url, e));
        }
        let store = c.store.clone();
        let hook = self
            .part_hook
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        c.rt.block_on(async move {
            let upload = store
                .put_multipart(&path)
                .await
                .map_err(|e| remote_err("start an upload of", url.clone(), e))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut f = std::fs::File::open(&src).map_err(Error::io("open", &src))?;
            let result: Result<()> = async {
                for part in 1.. {
                    // One part's bytes, handed to the upload without another copy.
                    let mut buf = Vec::with_capacity(PART_SIZE);
                    let n = (&mut f)
                        .take(PART_SIZE as u64)
                        .read_to_end(&mut buf)
                        .map_err(Error::io("read", &src))?;
                    if n == 0 {
                        break;
                    }
                    if let Some(h) = &hook {
                        h(part);
                    }
                    w.wait_for_capacity(UPLOAD_CONCURRENCY)
                        .await
                        .map_err(|e| remote_err("upload", url.clone(), e))?;
                    counts.puts.fetch_add(1, Ordering::Relaxed);
                    counts.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    w.put(bytes::Bytes::from(buf));
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => w
                    .finish()
                    .await
                    .map(|_| ())
                    .map_err(|e| remote_err("finish the upload of", url.clone(), e)),
                Err(e) => {
                    // Nothing becomes visible; abort frees the parts already stored.
                    let _ = w.abort().await;
                    Err(e)
                }
            }
        })
    }
}

/// Whether a failed create is worth repeating: not when the server refused the credentials or
/// the request itself (those fail the same way every time).
fn retryable(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => {
            source.kind() != std::io::ErrorKind::PermissionDenied
                && !source
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<object_store::Error>())
                    .is_some_and(|oe| {
                        matches!(
                            oe,
                            object_store::Error::NotImplemented { .. }
                                | object_store::Error::NotSupported { .. }
                                | object_store::Error::InvalidPath { .. }
                        )
                    })
        }
        _ => false,
    }
}

fn is_precondition(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<object_store::Error>())
        .is_some_and(|oe| matches!(oe, object_store::Error::Precondition { .. }))
}

impl Storage for ObjectStorage {
    fn describe(&self, key: &str) -> PathBuf {
        PathBuf::from(self.key_url(key))
    }

    fn get_opt(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.counts.gets.fetch_add(1, Ordering::Relaxed);
        let r = self.run("read", key, async |s, p| {
            let r = s.get(&p).await?;
            r.bytes().await
        });
        match r {
            Ok(b) => {
                self.counts
                    .bytes_in
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok(Some(b.to_vec()))
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        if range.start == range.end {
            return Ok(Vec::new());
        }
        self.counts.gets.fetch_add(1, Ordering::Relaxed);
        self.counts
            .bytes_in
            .fetch_add(range.end - range.start, Ordering::Relaxed);
        let b = self.run("read", key, async |s, p| s.get_range(&p, range).await)?;
        Ok(b.to_vec())
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        self.counts.heads.fetch_add(1, Ordering::Relaxed);
        match self.run("read metadata of", key, async |s, p| s.head(&p).await) {
            Ok(m) => Ok(Some(m.size)),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        // Content-addressed: an object under this key holds these bytes already; an
        // overwrite with the same bytes is harmless, and cheaper than asking first.
        self.counts.puts.fetch_add(1, Ordering::Relaxed);
        self.counts
            .bytes_out
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let payload = PutPayload::from(bytes.to_vec());
        self.run("write", key, async |s, p| s.put(&p, payload).await)
            .map(|_| ())
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        self.check_put_if_absent()?;
        // A create cut off mid-request (a reset connection, a gateway restart) is not retried
        // by the client, and it may or may not have landed. Retry it here with the same
        // bytes, so the commit's outcome is never left unknown: a retry of a create that did
        // land finds the key taken, and the bytes tell whose it is (a record holds its
        // writer's time, author and predecessor, so another writer's is never identical).
        let mut delay = CREATE_RETRY_FIRST;
        let mut attempt = 1;
        loop {
            match self.create(key, bytes) {
                Ok(true) => return Ok(true),
                // Taken on the first attempt: another writer's, whatever its bytes.
                Ok(false) if attempt == 1 => return Ok(false),
                Ok(false) => return Ok(self.get_opt(key)?.as_deref() == Some(bytes)),
                Err(e) if attempt < CREATE_ATTEMPTS && retryable(&e) => {
                    tracing::warn!("create of {key} failed ({e}); retrying in {delay:?}");
                    std::thread::sleep(delay);
                    delay *= 2;
                    attempt += 1;
                }
                // The create may have landed before its response was lost.
                Err(Error::Io { path, source, .. }) => {
                    return Err(Error::Io {
                        op: "create (the commit may or may not have landed: check `dstore log` before retrying)",
                        path,
                        source,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn stage(&self) -> Result<StagedFile> {
        let dir = self.cache_dir.join("tmp");
        crate::storage::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
        StagedFile::new_in(&dir)
    }

    fn sync_staged(&self, _staged: &mut StagedFile) -> Result<()> {
        // The staged file is a local copy to upload from, not the stored object.
        Ok(())
    }

    fn put_staged(&self, staged: StagedFile, key: &str, _read_only: bool) -> Result<()> {
        if self.size(key)?.is_some() {
            return Ok(());
        }
        self.upload_file(staged.path(), key)
    }

    fn put_staged_unreferenced(
        &self,
        staged: StagedFile,
        key: &str,
        _read_only: bool,
    ) -> Result<()> {
        // An existing object no commit references is a leftover (a crashed or abandoned
        // ingest of the same bytes). S3 cannot touch an object's time without rewriting it, so
        // an old one is uploaded again: otherwise a gc elsewhere could find it past its grace
        // period between this placement and the commit record naming it.
        self.counts.heads.fetch_add(1, Ordering::Relaxed);
        match self.run("read metadata of", key, async |s, p| s.head(&p).await) {
            Ok(m) => {
                let age = chrono::Utc::now().signed_duration_since(m.last_modified);
                if age < chrono::Duration::from_std(LEFTOVER_REFRESH).expect("fits") {
                    return Ok(());
                }
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.upload_file(staged.path(), key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        Ok(self
            .list_objects(prefix, None)?
            .into_iter()
            .map(|(key, m)| ObjectMeta {
                key,
                size: m.size,
                modified: SystemTime::from(m.last_modified),
            })
            .collect())
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.counts
            .gets
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let items = keys.iter().map(|k| (k.clone(), ())).collect();
        let got = self.concurrently(items, |store, p, ()| async move {
            match store.get(&p).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        got.into_iter()
            .map(|r| match r {
                Ok(b) => {
                    if let Some(b) = &b {
                        self.counts
                            .bytes_in
                            .fetch_add(b.len() as u64, Ordering::Relaxed);
                    }
                    Ok(b.map(|b| b.to_vec()))
                }
                Err((k, e)) => Err(remote_err("read", self.key_url(&k), e)),
            })
            .collect()
    }

    fn sizes_and_times(&self, keys: &[String]) -> Result<Vec<Option<SizeAndTime>>> {
        self.counts
            .heads
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let items = keys.iter().map(|k| (k.clone(), ())).collect();
        let got = self.concurrently(items, |store, p, ()| async move {
            match store.head(&p).await {
                Ok(m) => Ok(Some((m.size, Some(SystemTime::from(m.last_modified))))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        got.into_iter()
            .map(|r| r.map_err(|(k, e)| remote_err("read metadata of", self.key_url(&k), e)))
            .collect()
    }

    fn get_ranges(&self, ranges: &[(String, Range<u64>)]) -> Result<Vec<Vec<u8>>> {
        self.counts.gets.fetch_add(
            ranges.iter().filter(|(_, r)| r.start < r.end).count() as u64,
            Ordering::Relaxed,
        );
        let got = self.concurrently(ranges.to_vec(), |store, p, r| async move {
            if r.start == r.end {
                return Ok(bytes::Bytes::new());
            }
            store.get_range(&p, r).await
        })?;
        got.into_iter()
            .map(|r| match r {
                Ok(b) => {
                    self.counts
                        .bytes_in
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                    Ok(b.to_vec())
                }
                Err((k, e)) => Err(remote_err("read", self.key_url(&k), e)),
            })
            .collect()
    }

    fn list_after(&self, prefix: &str, after: &str) -> Result<Option<Vec<String>>> {
        let listed = self.list_objects(prefix, Some(after))?;
        Ok(Some(listed.into_iter().map(|(key, _)| key).collect()))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.counts.deletes.fetch_add(1, Ordering::Relaxed);
        match self.run("delete", key, async |s, p| s.delete(&p).await) {
            Ok(()) => Ok(()),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    fn staged_in_use(&self, _key: &str) -> Result<bool> {
        // Staged files live on the writer's disk, never in the bucket.
        Ok(false)
    }

    fn url(&self) -> Option<String> {
        Some(self.url())
    }

    fn request_counts(&self) -> Option<&RequestCounts> {
        Some(&self.counts)
    }

    fn check_writable(&self) -> Result<()> {
        self.check_put_if_absent()
    }

    fn open_read(&self, key: &str) -> Result<Box<dyn Read + Send + '_>> {
        let len = self.size(key)?.ok_or_else(|| Error::Io {
            op: "read",
            path: self.describe(key),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        Ok(Box::new(RangeReader {
            storage: self,
            key: key.to_owned(),
            pos: 0,
            len,
            buf: Vec::new(),
            at: 0,
        }))
    }
}

/// Reads an object front to back in [`READ_CHUNK`] range requests.
struct RangeReader<'a> {
    storage: &'a ObjectStorage,
    key: String,
    pos: u64,
    len: u64,
    buf: Vec<u8>,
    at: usize,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if self.pos >= self.len {
                return Ok(0);
            }
            let end = (self.pos + READ_CHUNK).min(self.len);
            self.buf = self
                .storage
                .get_range(&self.key, self.pos..end)
                .map_err(std::io::Error::other)?;
            self.pos = end;
            self.at = 0;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
