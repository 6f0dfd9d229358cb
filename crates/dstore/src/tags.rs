//! Tags: names for snapshots, set, moved and deleted by tag records in the log (a commit can
//! also set tags atomically with itself, see [`crate::Transaction::commit`]).
//!
//! May call: `catalog` (views and the writer's append), `resolve`, the format crate.

use dstore_format::{RecordKind, TagTarget, validate_tag_name};

use crate::catalog::LogView;
use crate::error::{Error, Result};
use crate::resolve::{parse_ref, resolve_in};
use crate::store::Store;

impl Store {
    /// Every tag and its target, sorted by name.
    pub fn tags(&self) -> Result<Vec<(String, TagTarget)>> {
        self.view()?.tags()
    }

    /// Points tag `name` at the snapshot `target` resolves to. An existing tag is moved only
    /// with `force`; the move is a log record naming the previous target.
    pub fn set_tag(
        &self,
        name: &str,
        target: &str,
        force: bool,
        author: &str,
    ) -> Result<TagTarget> {
        validate_tag_name(name.as_bytes()).map_err(|e| Error::invalid(e.to_string()))?;
        let spec = parse_ref(target)?;
        let written = self.append_tag_record(name, author, |view| {
            let (res, rec) = resolve_in(view, &spec, target)?;
            // A tag protects a snapshot from expiry; one set after it would point at data gc
            // removes.
            if let Some(e) = crate::expire::expired_in(view, &res.id)? {
                return Err(e);
            }
            let seq = rec
                .map(|r| r.seq)
                .or(res.seq)
                .ok_or_else(|| Error::NotFound {
                    what: format!("a commit of snapshot {}", res.id),
                })?;
            let new = TagTarget {
                snapshot: res.id,
                seq,
            };
            match view.tag(name)? {
                Some(old) if old == new => Ok(None),
                Some(old) if !force => Err(Error::TagExists {
                    name: name.to_owned(),
                    target: old.snapshot.to_hex(),
                }),
                prev => Ok(Some((Some(new), prev))),
            }
        })?;
        match written {
            Some(t) => Ok(t.target.expect("a set writes a target")),
            // Already there: nothing written.
            None => self.view()?.tag(name)?.ok_or_else(|| Error::NotFound {
                what: format!("tag `{name}`"),
            }),
        }
    }

    /// Deletes a tag (recorded in the log).
    pub fn delete_tag(&self, name: &str, author: &str) -> Result<TagTarget> {
        let written = self.append_tag_record(name, author, |view| match view.tag(name)? {
            Some(old) => Ok(Some((None, Some(old)))),
            None => Err(Error::NotFound {
                what: format!("tag `{name}`"),
            }),
        })?;
        Ok(written
            .and_then(|t| t.previous)
            .expect("a deletion names the target it removes"))
    }

    /// Appends a tag record whose new and previous targets `decide` computes from the current
    /// view (`None`: nothing to write), through the log's one append protocol.
    fn append_tag_record(
        &self,
        name: &str,
        author: &str,
        decide: impl Fn(&LogView<'_>) -> Result<Option<(Option<TagTarget>, Option<TagTarget>)>>,
    ) -> Result<Option<TagChange>> {
        self.index()
            .write(|w| {
                w.append(|view| {
                    let Some((target, previous)) = decide(view)? else {
                        return Ok(None);
                    };
                    let kind = RecordKind::Tag {
                        name: name.to_owned(),
                        target,
                        previous,
                    };
                    let rec = view.next_record(author, "", kind)?;
                    Ok(Some((rec, TagChange { target, previous })))
                })
            })
            .map(|a| a.map(|a| a.value))
    }
}

/// What a tag record that was written changed.
struct TagChange {
    target: Option<TagTarget>,
    previous: Option<TagTarget>,
}
