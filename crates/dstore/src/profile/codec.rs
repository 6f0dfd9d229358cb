//! The bytes of a segment profile (`derived/<aa>/<segment id>.profile`, docs/format.md §16).
//!
//! ```text
//! offset  size  field
//! 0       8     magic b"DSTPROFL"
//! 8       4     format version, u32 LE (1)
//! 12      32    segment id
//! 44      8     segment length in bytes, u64 LE
//! 52      8     rows, u64 LE
//! 60      4     KLL k, u32 LE; MUST be 200
//! 64      4     HLL lg k, u32 LE; MUST be 12
//! 68      4     frequent-items map size, u32 LE; MUST be 256
//! 72      …     seq<column> (§16.2)
//! end-32  32    BLAKE3 of every byte before it
//! ```

use datasketches::frequencies::FrequentItemsSketch;
use datasketches::hll::HllSketch;
use dstore_format::codec::{Decoder, Encoder};
use dstore_format::{
    Error as FormatError, FORMAT_VERSION, ObjectKind, Result as FormatResult, SegmentId,
    check_magic_and_version,
};

use super::SegmentProfile;
use super::column::{ColumnProfile, FREQ_MAP, HLL_LG_K, Lengths, Moments, ValueKind};
use super::kll::{K, Kll};

/// The magic of a segment profile.
pub const PROFILE_MAGIC: [u8; 8] = *b"DSTPROFL";
const HEADER_LEN: usize = 72;

fn f64_(e: &mut Encoder, x: f64) {
    e.u64(x.to_bits());
}

fn encode_column(e: &mut Encoder, c: &ColumnProfile) {
    e.str(&c.path);
    e.u8(c.kind as u8);
    e.u64(c.count);
    e.u64(c.nulls);
    e.u64(c.nans);
    e.opt(c.range.as_ref(), |e, (lo, hi)| {
        f64_(e, *lo);
        f64_(e, *hi);
    });
    e.opt(c.moments.as_ref(), |e, m| {
        e.u64(m.n);
        f64_(e, m.sum);
        f64_(e, m.mean);
        f64_(e, m.m2);
    });
    e.opt(c.lengths.as_ref(), |e, l| {
        e.u64(l.min);
        e.u64(l.max);
        e.u64(l.sum);
        e.u64(l.n);
    });
    e.opt(c.quantiles.as_ref(), |e, k| k.encode(e));
    e.opt(c.hll.as_ref(), |e, h| e.bytes(&h.serialize()));
    e.opt(c.freq.as_ref(), |e, f| e.bytes(&f.serialize()));
}

fn decode_column(d: &mut Decoder<'_>) -> FormatResult<ColumnProfile> {
    let path = d.str()?;
    let kind_byte = d.u8()?;
    let kind = ValueKind::from_u8(kind_byte)
        .ok_or_else(|| d.error(format!("unknown value kind {kind_byte}")))?;
    let count = d.u64()?;
    let nulls = d.u64()?;
    let nans = d.u64()?;
    if nulls.checked_add(nans).is_none_or(|x| x > count) {
        return Err(d.error(format!(
            "column `{path}`: {nulls} nulls and {nans} NaNs in {count} values"
        )));
    }
    let f = |d: &mut Decoder<'_>| d.u64().map(f64::from_bits);
    let range = d.opt(|d| Ok((f(d)?, f(d)?)))?;
    let moments = d.opt(|d| {
        Ok(Moments {
            n: d.u64()?,
            sum: f(d)?,
            mean: f(d)?,
            m2: f(d)?,
        })
    })?;
    let lengths = d.opt(|d| {
        Ok(Lengths {
            min: d.u64()?,
            max: d.u64()?,
            sum: d.u64()?,
            n: d.u64()?,
        })
    })?;
    let quantiles = d.opt(Kll::decode)?;
    let hll = d.opt(|d| {
        let at = d.position();
        let b = d.bytes()?;
        let bad = |detail: String| FormatError::Malformed {
            object: ObjectKind::Profile,
            offset: at,
            detail: format!("column `{path}`: HyperLogLog sketch: {detail}"),
        };
        check_hll_image(b).map_err(bad)?;
        let h = HllSketch::deserialize(b).map_err(|e| bad(e.to_string()))?;
        if h.lg_config_k() != HLL_LG_K {
            return Err(d.error(format!("column `{path}`: HLL lg k must be {HLL_LG_K}")));
        }
        Ok(h)
    })?;
    let freq = d.opt(|d| {
        let at = d.position();
        let b = d.bytes()?;
        FrequentItemsSketch::<String>::deserialize(b).map_err(|e| FormatError::Malformed {
            object: ObjectKind::Profile,
            offset: at,
            detail: format!("column `{path}`: frequent-items sketch: {e}"),
        })
    })?;
    Ok(ColumnProfile {
        path,
        kind,
        count,
        nulls,
        nans,
        range,
        moments,
        lengths,
        quantiles,
        hll,
        freq,
    })
}

/// What `datasketches` 0.6.0 does not check when it reads an HLL image: the target type, and in
/// HLL mode that each register is a value a sketch can hold (6 bits; larger ones make its
/// estimator shift past 64 bits). Layout: DataSketches' HLL serialization, mode byte at offset
/// 7 (current mode in bits 0-1, target type in bits 2-3), registers after a 40-byte preamble.
fn check_hll_image(b: &[u8]) -> std::result::Result<(), String> {
    const HLL_PREAMBLE: usize = 40;
    let mode = *b.get(7).ok_or("shorter than its preamble")?;
    if (mode >> 2) & 3 != 2 {
        return Err("target type must be HLL_8".into());
    }
    if mode & 3 == 2 {
        let regs = b
            .get(HLL_PREAMBLE..HLL_PREAMBLE + (1 << HLL_LG_K))
            .ok_or("register array truncated")?;
        if let Some(v) = regs.iter().find(|&&v| v > 63) {
            return Err(format!("register value {v} (at most 63)"));
        }
    }
    Ok(())
}

impl SegmentProfile {
    /// The file's bytes, checksum included.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.raw(&PROFILE_MAGIC);
        e.u32(FORMAT_VERSION);
        e.hash(&self.segment.0);
        e.u64(self.len);
        e.u64(self.rows);
        e.u32(u32::from(K));
        e.u32(u32::from(HLL_LG_K));
        e.u32(FREQ_MAP as u32);
        e.len(self.columns.len());
        for c in &self.columns {
            encode_column(&mut e, c);
        }
        let sum = blake3::hash(e.as_bytes());
        e.raw(sum.as_bytes());
        e.into_bytes()
    }

    /// Decodes a profile, checking magic, version, checksum, parameters and structure.
    pub fn decode(bytes: &[u8]) -> FormatResult<SegmentProfile> {
        if bytes.len() < HEADER_LEN + 4 + 32 {
            return Err(FormatError::Malformed {
                object: ObjectKind::Profile,
                offset: 0,
                detail: format!(
                    "{} bytes is too short for a profile (truncated?)",
                    bytes.len()
                ),
            });
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        let mut d = Decoder::new(body, ObjectKind::Profile);
        check_magic_and_version(&mut d, ObjectKind::Profile, PROFILE_MAGIC)?;
        if blake3::hash(body).as_bytes() != sum {
            return Err(FormatError::ChecksumMismatch {
                object: ObjectKind::Profile,
            });
        }
        let segment = SegmentId(d.hash()?);
        let len = d.u64()?;
        let rows = d.u64()?;
        for (what, want) in [
            ("KLL k", u32::from(K)),
            ("HLL lg k", u32::from(HLL_LG_K)),
            ("frequent-items map size", FREQ_MAP as u32),
        ] {
            let got = d.u32()?;
            if got != want {
                return Err(d.error(format!("{what} is {got}; it must be {want}")));
            }
        }
        // A column takes at least 49 bytes (empty path, kind, counts, six absent options).
        let n = d.len(4 + 1 + 24 + 6)?;
        let mut columns = Vec::with_capacity(n);
        for _ in 0..n {
            let c = decode_column(&mut d)?;
            columns.push(c);
        }
        d.finish()?;
        Ok(SegmentProfile {
            segment,
            len,
            rows,
            columns,
        })
    }
}
