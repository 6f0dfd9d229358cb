//! Where a remote store is and how to reach it: store URLs ([`StoreUrl`], [`is_url`]),
//! [`RemoteOptions`], and the local cache directory that holds a remote store's catalog
//! ([`cache_dir_for`]). The only library code that reads the environment.

use std::path::PathBuf;

use crate::error::{Error, RemoteSetting, Result};

/// How to reach a store in object storage. Everything else (credentials, region, endpoint)
/// comes from the standard AWS environment variables (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
/// `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, web identity and container
/// credentials, instance metadata), as `object_store`'s `AmazonS3Builder::from_env` reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOptions {
    /// The S3 endpoint (`http://127.0.0.1:7480` for a local Ceph gateway); overrides
    /// `AWS_ENDPOINT_URL`. An `http://` endpoint allows plain HTTP.
    pub endpoint: Option<String>,
    /// Path-style requests (`ENDPOINT/BUCKET/KEY`), which most S3-compatible servers want.
    /// Implied by an explicit endpoint unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
    pub path_style: bool,
    /// Write to a backend that does not honour put-if-absent. Safe only when one process at a
    /// time ever writes to the store: concurrent commits could silently overwrite each other.
    pub single_writer: bool,
    /// The directory holding the local catalogs of remote stores; default
    /// `$DSTORE_REMOTE_CACHE`, else `$XDG_CACHE_HOME/dstore/stores`, else
    /// `~/.cache/dstore/stores`.
    pub cache_root: Option<PathBuf>,
}

impl RemoteOptions {
    /// Options from the environment: `DSTORE_S3_ENDPOINT`, `DSTORE_S3_PATH_STYLE=1`,
    /// `DSTORE_SINGLE_WRITER=1`, `DSTORE_REMOTE_CACHE`.
    pub fn from_env() -> RemoteOptions {
        let flag =
            |k: &str| std::env::var(k).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        RemoteOptions {
            endpoint: std::env::var("DSTORE_S3_ENDPOINT")
                .ok()
                .filter(|s| !s.is_empty()),
            path_style: flag("DSTORE_S3_PATH_STYLE"),
            single_writer: flag("DSTORE_SINGLE_WRITER"),
            cache_root: std::env::var_os("DSTORE_REMOTE_CACHE").map(PathBuf::from),
        }
    }

    /// Whether the S3 client sends path-style requests: when asked for, or implied by an
    /// explicit endpoint unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`. Read each time a
    /// client is built.
    pub(crate) fn path_style_requests(&self) -> bool {
        let virtual_hosted = std::env::var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST")
            .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        self.path_style || (self.endpoint.is_some() && !virtual_hosted)
    }
}

/// Whether `location` names a store by URL (`s3://…`, or any `scheme://`) rather than a path.
pub fn is_url(location: &str) -> bool {
    location.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// A parsed store URL: `s3://BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreUrl {
    pub(crate) bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub(crate) prefix: String,
}

impl StoreUrl {
    pub(crate) fn parse(url: &str) -> Result<StoreUrl> {
        let bad = |detail: String| Error::InvalidInput {
            path: Some(PathBuf::from(url)),
            detail,
            hint: Some(
                "store URLs look like s3://bucket/path/to/store (see docs/object-storage.md)"
                    .into(),
            ),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("is not a URL".into()))?;
        match scheme {
            "s3" | "s3a" => {}
            "gs" | "az" | "abfs" | "abfss" | "azure" | "http" | "https" | "file" => {
                return Err(bad(format!(
                    "`{scheme}://` stores are not built into this dstore (only s3://; a local \
                     directory is given as a plain path)"
                )));
            }
            other => return Err(bad(format!("unknown URL scheme `{other}://`"))),
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("names no bucket".into()));
        }
        if bucket.contains(['?', '#', '@']) || prefix.contains(['?', '#', '@', '%']) {
            return Err(bad(
                "contains `?`, `#`, `@` or `%`, which store URLs do not allow".into(),
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return Err(bad("has an empty, `.` or `..` path segment".into()));
        }
        Ok(StoreUrl {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The canonical form: `s3://bucket/prefix` (no trailing slash).
    pub(crate) fn canonical(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// The local directory holding the catalog of the remote store at `url`:
/// `CACHE_ROOT/<first 16 hex digits of BLAKE3(url, endpoint)>` (see
/// [`RemoteOptions::cache_root`]). The endpoint is part of the key: the same bucket name on
/// another server is another store, with its own catalog and its own put-if-absent probe.
pub fn cache_dir_for(url: &str, opts: &RemoteOptions) -> Result<PathBuf> {
    let root = match &opts.cache_root {
        Some(r) => r.clone(),
        None => default_cache_root().ok_or_else(|| Error::RemoteConfig {
            url: url.to_owned(),
            detail: "no cache directory for the catalogs of remote stores: neither \
                     DSTORE_REMOTE_CACHE, XDG_CACHE_HOME nor HOME is set"
                .into(),
            setting: RemoteSetting::CacheDir,
        })?,
    };
    let h = blake3::hash(cache_key(url, opts).as_bytes()).to_hex();
    Ok(root.join(&h[..16]))
}

/// What a cache directory is keyed by: the URL and the endpoint it is reached through.
fn cache_key(url: &str, opts: &RemoteOptions) -> String {
    let endpoint = opts
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT").ok())
        .unwrap_or_default();
    format!("{url}\n{endpoint}")
}

/// The default placement of remote stores' catalog caches, when [`RemoteOptions::cache_root`]
/// does not give one: `$DSTORE_REMOTE_CACHE`, else `$XDG_CACHE_HOME/dstore/stores`, else
/// `$HOME/.cache/dstore/stores`.
fn default_cache_root() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DSTORE_REMOTE_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("dstore").join("stores"));
    }
    std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("dstore")
            .join("stores")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        let u = StoreUrl::parse("s3://bucket/a/b/").unwrap();
        assert_eq!(u.bucket, "bucket");
        assert_eq!(u.prefix, "a/b");
        assert_eq!(u.canonical(), "s3://bucket/a/b");
        assert_eq!(
            StoreUrl::parse("s3://bucket").unwrap().canonical(),
            "s3://bucket"
        );
        for bad in [
            "s3://",
            "s3:///x",
            "s3://b/a/../c",
            "s3://b/a//c",
            "s3://b/x?y",
            "gs://b/x",
            "ftp://b/x",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(is_url("s3://b/x"));
        assert!(!is_url("/data/x.dstore"));
        assert!(!is_url("rel/path"));
        assert!(!is_url("://x"));
    }

    #[test]
    fn cache_dirs_are_per_url() {
        let opts = RemoteOptions {
            cache_root: Some(PathBuf::from("/c")),
            ..RemoteOptions::default()
        };
        let a = cache_dir_for("s3://b/x", &opts).unwrap();
        let b = cache_dir_for("s3://b/y", &opts).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("/c"));
        assert_eq!(a, cache_dir_for("s3://b/x", &opts).unwrap());
    }
}
