//! The drift report: per column a statistical test chosen as Evidently chooses it, computed
//! from the two versions' merged profiles; null-rate, category and range changes; schema
//! differences; and the dataset-level share of drifted columns. docs/drift.md is the user's
//! description of every rule here.

// Statistics read best with their textbook names (a, b, p, q, x, ...).
#![allow(clippy::many_single_char_names)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::datatypes::Schema;
use datasketches::hll::{HllType, HllUnion};

use super::column::{ColumnProfile, HLL_LG_K, ValueKind};
use super::kll::RANK_ERROR;
use super::stattest as st;
use super::table::TableProfile;
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;

/// A statistical test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    /// Two-sample Kolmogorov–Smirnov; the score is the p-value.
    Ks,
    /// Wasserstein-1 distance over the old standard deviation.
    Wasserstein,
    /// Population stability index over the old deciles.
    Psi,
    /// Chi-square of the new category counts against the old proportions; p-value.
    Chisquare,
    /// Two-proportion Z-test (two categories); p-value.
    Z,
    /// Jensen–Shannon distance of the category distributions.
    Jensenshannon,
}

impl TestKind {
    /// Whether the score is a p-value (drift when below the threshold) rather than a distance
    /// (drift when at or above it).
    pub fn is_p_value(self) -> bool {
        matches!(self, TestKind::Ks | TestKind::Chisquare | TestKind::Z)
    }

    /// The default threshold: 0.05 for p-values, 0.1 for distances (Evidently's).
    pub fn default_threshold(self) -> f64 {
        if self.is_p_value() { 0.05 } else { 0.1 }
    }

    fn categorical(self) -> bool {
        matches!(
            self,
            TestKind::Chisquare | TestKind::Z | TestKind::Jensenshannon
        )
    }

    /// The test's name, as in rules files.
    pub fn name(self) -> &'static str {
        match self {
            TestKind::Ks => "ks",
            TestKind::Wasserstein => "wasserstein",
            TestKind::Psi => "psi",
            TestKind::Chisquare => "chisquare",
            TestKind::Z => "z",
            TestKind::Jensenshannon => "jensenshannon",
        }
    }
}

/// A column's rule in a rules file.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    /// The test to use instead of the default choice.
    pub test: Option<TestKind>,
    /// Its threshold instead of the test's default.
    pub threshold: Option<f64>,
    /// Leave the column out of the report.
    #[serde(default)]
    pub skip: bool,
}

/// Thresholds and per-column overrides (`--rules drift.toml`; docs/drift.md).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftRules {
    /// A table drifts when at least this share of its tested columns drift (0.5).
    pub drift_share: f64,
    /// A column drifts when its share of nulls moves by at least this much (0.05).
    pub null_rate_change: f64,
    /// A column drifts when values the old version never had make up at least this share of
    /// the new version's values (0.01).
    pub new_category_share: f64,
    /// Rules by column path.
    pub columns: BTreeMap<String, ColumnRule>,
}

impl Default for DriftRules {
    fn default() -> Self {
        DriftRules {
            drift_share: 0.5,
            null_rate_change: 0.05,
            new_category_share: 0.01,
            columns: BTreeMap::new(),
        }
    }
}

impl DriftRules {
    /// Parses a rules file's text; errors name `path` and the line and column.
    pub fn parse(text: &str, path: &Path) -> Result<DriftRules> {
        let bad = |detail: String| Error::InvalidInput {
            path: Some(path.to_owned()),
            detail,
            hint: Some(
                "a rules file holds `drift_share`, `null_rate_change`, `new_category_share` and \
                 `[columns.NAME]` tables with `test`, `threshold`, `skip` (docs/drift.md)"
                    .into(),
            ),
        };
        let r: DriftRules = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        for (what, v) in [
            ("drift_share", r.drift_share),
            ("null_rate_change", r.null_rate_change),
            ("new_category_share", r.new_category_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!("`{what}` is {v}; it must be from 0 to 1")));
            }
        }
        for (name, c) in &r.columns {
            if let Some(t) = c.threshold
                && !(t.is_finite() && t >= 0.0)
            {
                return Err(bad(format!(
                    "column `{name}`: threshold {t} must be a number at least 0"
                )));
            }
        }
        Ok(r)
    }

    /// Reads and parses a rules file.
    pub fn load(path: &Path) -> Result<DriftRules> {
        let text = std::fs::read_to_string(path).map_err(crate::error::Error::io("read", path))?;
        DriftRules::parse(&text, path)
    }
}

/// Old and new shares of a plot's bins or categories.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Plot {
    /// A histogram: `edges.len() = old.len() + 1`.
    Histogram {
        /// Bin edges.
        edges: Vec<f64>,
        /// Old share per bin.
        old: Vec<f64>,
        /// New share per bin.
        new: Vec<f64>,
    },
    /// Top categories (and `(other)`).
    Bars {
        /// Category labels.
        labels: Vec<String>,
        /// Old share per category.
        old: Vec<f64>,
        /// New share per category.
        new: Vec<f64>,
    },
}

/// One column's drift.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ColumnDrift {
    /// Path.
    pub column: String,
    /// Kind.
    pub kind: ValueKind,
    /// The test run, if any (not for lists, structs, binaries, or empty columns).
    pub test: Option<TestKind>,
    /// Its score (p-value or distance).
    pub score: Option<f64>,
    /// Its threshold.
    pub threshold: Option<f64>,
    /// How far the score may be from the one computed on the full data, where known.
    pub score_error: Option<String>,
    /// Score over threshold for distances, threshold over p for p-values: ≥ 1 is drift.
    pub severity: f64,
    /// The verdict.
    pub drifted: bool,
    /// Why it drifted, or what else changed.
    pub reasons: Vec<String>,
    /// Values (nulls included), old and new.
    pub count: (u64, u64),
    /// Share of nulls, old and new.
    pub null_rate: (f64, f64),
    /// Range, old and new.
    pub range: (Range, Range),
    /// Mean, old and new.
    pub mean: (Option<f64>, Option<f64>),
    /// Values the new version has and the old had not (known only where the old counts are
    /// exact).
    pub new_categories: Vec<String>,
    /// Values the old version had and the new has not.
    pub vanished_categories: Vec<String>,
    /// For the report's plot.
    pub plot: Option<Plot>,
}

/// A column's smallest and largest value, if it has any.
pub type Range = Option<(f64, f64)>;

/// A schema difference of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaChange {
    /// The column.
    pub column: String,
    /// `added`, `removed`, `type changed`.
    pub change: String,
    /// Old type.
    pub old: Option<String>,
    /// New type.
    pub new: Option<String>,
}

/// One table's drift.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableDrift {
    /// The table.
    pub table: String,
    /// Rows, old and new.
    pub rows: (u64, u64),
    /// Segments in both versions (their profiles are reused, not recomputed).
    pub segments_shared: u64,
    /// Segment profiles computed for this report (none were stored).
    pub profiles_computed: u64,
    /// Columns, most drifted first.
    pub columns: Vec<ColumnDrift>,
    /// Schema differences.
    pub schema_changes: Vec<SchemaChange>,
    /// Columns tested.
    pub tested: usize,
    /// Columns that drifted.
    pub drifted_columns: usize,
    /// `drifted_columns / tested`.
    pub drift_share: f64,
    /// Whether the table drifted (share at or above the rule's).
    pub dataset_drift: bool,
}

/// The drift report between two snapshots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriftReport {
    /// Old snapshot id.
    pub old: String,
    /// New snapshot id.
    pub new: String,
    /// The dataset drift share rule.
    pub drift_share_threshold: f64,
    /// Tables in both versions (or only in one, with schema changes only).
    pub tables: Vec<TableDrift>,
    /// Any table drifted or changed schema: `--fail-on-drift` exits 3.
    pub drifted: bool,
}

fn choose(old: &ColumnProfile, new: &ColumnProfile) -> Option<TestKind> {
    let numeric = matches!(old.kind, ValueKind::Numeric | ValueKind::Temporal);
    let categorical = matches!(old.kind, ValueKind::String | ValueKind::Boolean);
    let ref_size = if numeric {
        old.quantiles.as_ref().map_or(0, super::kll::Kll::n)
    } else {
        old.present()
    };
    let n_unique = union_distinct(old, new);
    let has_freq = old.freq.is_some() && new.freq.is_some();
    if numeric {
        let few = n_unique <= 5.0 && has_freq;
        Some(match (ref_size <= 1000, few) {
            (true, true) if n_unique > 2.0 => TestKind::Chisquare,
            (true, true) => TestKind::Z,
            (true, false) => TestKind::Ks,
            (false, true) => TestKind::Jensenshannon,
            (false, false) => TestKind::Wasserstein,
        })
    } else if categorical && has_freq {
        Some(if ref_size <= 1000 {
            if n_unique > 2.0 {
                TestKind::Chisquare
            } else {
                TestKind::Z
            }
        } else {
            TestKind::Jensenshannon
        })
    } else {
        None
    }
}

/// Distinct values of both versions together: exact from the frequent items when both are
/// exact, else the union of the HyperLogLog sketches.
fn union_distinct(a: &ColumnProfile, b: &ColumnProfile) -> f64 {
    if let (Some(fa), Some(fb)) = (&a.freq, &b.freq)
        && fa.maximum_error() == 0
        && fb.maximum_error() == 0
    {
        let keys: BTreeSet<String> = a
            .frequent(usize::MAX)
            .into_iter()
            .chain(b.frequent(usize::MAX))
            .map(|v| v.value)
            .collect();
        return keys.len() as f64;
    }
    match (&a.hll, &b.hll) {
        (Some(x), Some(y)) => {
            let mut u = HllUnion::new(HLL_LG_K).expect("valid lg k");
            u.update(x);
            u.update(y);
            u.to_sketch(HllType::Hll8).estimate()
        }
        _ => f64::INFINITY,
    }
}

/// Category counts of both versions over the union of their frequent values, plus the rest
/// (`(other)`) when the listed values do not account for every value.
fn category_counts(a: &ColumnProfile, b: &ColumnProfile) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let (Some(fa), Some(fb)) = (&a.freq, &b.freq) else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let keys: BTreeSet<String> = a
        .frequent(usize::MAX)
        .into_iter()
        .chain(b.frequent(usize::MAX))
        .map(|v| v.value)
        .collect();
    let mut labels: Vec<String> = keys.into_iter().collect();
    let mut ca: Vec<f64> = labels.iter().map(|k| fa.estimate(k) as f64).collect();
    let mut cb: Vec<f64> = labels.iter().map(|k| fb.estimate(k) as f64).collect();
    let ra = a.present() as f64 - ca.iter().sum::<f64>();
    let rb = b.present() as f64 - cb.iter().sum::<f64>();
    if ra > 0.5 || rb > 0.5 {
        labels.push("(other)".into());
        ca.push(ra.max(0.0));
        cb.push(rb.max(0.0));
    }
    (labels, ca, cb)
}

fn histogram(a: &ColumnProfile, b: &ColumnProfile) -> Option<Plot> {
    const BINS: usize = 20;
    let (qa, qb) = (a.quantiles.as_ref()?, b.quantiles.as_ref()?);
    let lo = a.range?.0.min(b.range?.0);
    let hi = a.range?.1.max(b.range?.1);
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    let edges: Vec<f64> = if hi > lo {
        (0..=BINS)
            .map(|i| lo + (hi - lo) * i as f64 / BINS as f64)
            .collect()
    } else {
        vec![lo - 0.5, lo + 0.5]
    };
    let shares = |k: &super::kll::Kll| -> Vec<f64> {
        let mut c = k.cdf(&edges[1..edges.len() - 1]);
        c.push(1.0);
        let mut prev = 0.0;
        c.into_iter()
            .map(|x| {
                let s = x - prev;
                prev = x;
                s.max(0.0)
            })
            .collect()
    };
    Some(Plot::Histogram {
        old: shares(qa),
        new: shares(qb),
        edges,
    })
}

fn bars(labels: &[String], ca: &[f64], cb: &[f64]) -> Plot {
    let (sa, sb) = (
        ca.iter().sum::<f64>().max(1.0),
        cb.iter().sum::<f64>().max(1.0),
    );
    let mut idx: Vec<usize> = (0..labels.len()).collect();
    idx.sort_by(|&i, &j| {
        let m = |k: usize| (ca[k] / sa).max(cb[k] / sb);
        m(j).total_cmp(&m(i)).then(i.cmp(&j))
    });
    idx.truncate(12);
    Plot::Bars {
        labels: idx.iter().map(|&i| labels[i].clone()).collect(),
        old: idx.iter().map(|&i| ca[i] / sa).collect(),
        new: idx.iter().map(|&i| cb[i] / sb).collect(),
    }
}

fn run_test(test: TestKind, a: &ColumnProfile, b: &ColumnProfile) -> (Option<f64>, Option<String>) {
    if test.categorical() {
        let (_, ca, cb) = category_counts(a, b);
        if ca.is_empty() {
            return (None, None);
        }
        let err = a.frequent_error() + b.frequent_error();
        let note = (err > 0).then(|| format!("category counts within ±{err} (frequent items)"));
        let score = match test {
            TestKind::Chisquare => st::chi_square_pvalue(&ca, &cb),
            TestKind::Z => st::z_test_pvalue(ca[0], ca.iter().sum(), cb[0], cb.iter().sum()),
            _ => st::jensen_shannon(&ca, &cb),
        };
        return (Some(score), note);
    }
    let (Some(qa), Some(qb)) = (&a.quantiles, &b.quantiles) else {
        return (None, None);
    };
    if qa.n() == 0 || qb.n() == 0 {
        return (None, None);
    }
    match test {
        TestKind::Ks => {
            let d = st::ks_statistic(qa, qb);
            let p = st::ks_pvalue(d, qa.n(), qb.n());
            (
                Some(p),
                Some(format!(
                    "KS statistic D = {d:.4} ± {:.4} (KLL rank error of both sketches)",
                    2.0 * RANK_ERROR
                )),
            )
        }
        TestKind::Wasserstein => {
            let std = a.std().unwrap_or(0.0);
            (
                Some(st::wasserstein_normed(qa, qb, std)),
                Some(format!(
                    "from quantiles of rank error ±{:.2}% each",
                    RANK_ERROR * 100.0
                )),
            )
        }
        TestKind::Psi => (
            Some(st::psi(qa, qb)),
            Some(format!(
                "bin shares within ±{:.2}% each",
                2.0 * RANK_ERROR * 100.0
            )),
        ),
        _ => (None, None),
    }
}

/// Compares one column's old and new profiles.
pub fn column_drift(
    old: &ColumnProfile,
    new: &ColumnProfile,
    rule: &ColumnRule,
    rules: &DriftRules,
) -> ColumnDrift {
    let mut reasons = Vec::new();
    let test = rule.test.or_else(|| choose(old, new));
    let (score, score_error) = test.map_or((None, None), |t| run_test(t, old, new));
    let threshold = test.map(|t| rule.threshold.unwrap_or(t.default_threshold()));
    let mut severity = 0.0;
    let mut drifted = false;
    if let (Some(t), Some(s), Some(th)) = (test, score, threshold) {
        let (hit, sev) = if t.is_p_value() {
            (s < th, th / s.max(1e-12))
        } else {
            (s >= th, if th > 0.0 { s / th } else { f64::INFINITY })
        };
        severity = sev.min(1e6);
        if hit {
            drifted = true;
            reasons.push(format!(
                "{} {} {s:.4} {} threshold {th}",
                t.name(),
                if t.is_p_value() { "p-value" } else { "score" },
                if t.is_p_value() { "<" } else { "≥" }
            ));
        }
    }
    let nr = (old.null_rate(), new.null_rate());
    if (nr.1 - nr.0).abs() >= rules.null_rate_change && old.count > 0 && new.count > 0 {
        drifted = true;
        severity = f64::max(severity, 1.0 + (nr.1 - nr.0).abs());
        reasons.push(format!(
            "null rate {:.1}% → {:.1}%",
            nr.0 * 100.0,
            nr.1 * 100.0
        ));
    }
    let (mut new_cats, mut vanished) = (Vec::new(), Vec::new());
    let mut cat_plot = None;
    if let (Some(fa), Some(fb)) = (&old.freq, &new.freq) {
        let (labels, ca, cb) = category_counts(old, new);
        let mut new_weight = 0.0;
        for (i, l) in labels.iter().enumerate() {
            if l == "(other)" && i + 1 == labels.len() {
                continue;
            }
            if fa.maximum_error() == 0 && ca[i] == 0.0 && cb[i] > 0.0 {
                new_cats.push(l.clone());
                new_weight += cb[i];
            }
            if fb.maximum_error() == 0 && cb[i] == 0.0 && ca[i] > 0.0 {
                vanished.push(l.clone());
            }
        }
        let share = new_weight / (new.present() as f64).max(1.0);
        if !new_cats.is_empty() && share >= rules.new_category_share {
            drifted = true;
            severity = f64::max(severity, 1.0 + share);
            reasons.push(format!(
                "new values ({}) are {:.1}% of the new version",
                new_cats.len(),
                share * 100.0
            ));
        } else if !new_cats.is_empty() {
            reasons.push(format!("{} new values (few rows)", new_cats.len()));
        }
        if !vanished.is_empty() {
            reasons.push(format!("{} values vanished", vanished.len()));
        }
        if !labels.is_empty()
            && (old.kind != ValueKind::Numeric || test.is_some_and(TestKind::categorical))
        {
            cat_plot = Some(bars(&labels, &ca, &cb));
        }
    }
    // A range that grew by more than a tenth of its span on either side is worth a line; new
    // extremes of a continuous column are not.
    if let (Some((a, b)), Some((c, d))) = (old.range, new.range) {
        let slack = 0.1 * (b - a).abs().max(f64::MIN_POSITIVE);
        if c < a - slack || d > b + slack {
            reasons.push(format!(
                "range {} to {} → {} to {}",
                short(a),
                short(b),
                short(c),
                short(d)
            ));
        }
    }
    new_cats.truncate(50);
    vanished.truncate(50);
    let plot = cat_plot.or_else(|| histogram(old, new));
    ColumnDrift {
        column: old.path.clone(),
        kind: old.kind,
        test,
        score,
        threshold,
        score_error,
        severity,
        drifted,
        reasons,
        count: (old.count, new.count),
        null_rate: nr,
        range: (old.range, new.range),
        mean: (
            old.moments.filter(|m| m.n > 0).map(|m| m.mean),
            new.moments.filter(|m| m.n > 0).map(|m| m.mean),
        ),
        new_categories: new_cats,
        vanished_categories: vanished,
        plot,
    }
}

fn schema_changes(old: &Schema, new: &Schema) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    for f in old.fields() {
        match new.field_with_name(f.name()) {
            Err(_) => out.push(SchemaChange {
                column: f.name().clone(),
                change: "removed".into(),
                old: Some(f.data_type().to_string()),
                new: None,
            }),
            Ok(g) if g.data_type() != f.data_type() => out.push(SchemaChange {
                column: f.name().clone(),
                change: "type changed".into(),
                old: Some(f.data_type().to_string()),
                new: Some(g.data_type().to_string()),
            }),
            Ok(_) => {}
        }
    }
    for g in new.fields() {
        if old.field_with_name(g.name()).is_err() {
            out.push(SchemaChange {
                column: g.name().clone(),
                change: "added".into(),
                old: None,
                new: Some(g.data_type().to_string()),
            });
        }
    }
    out
}

/// Compares two merged table profiles.
pub fn table_drift(
    old: &TableProfile,
    new: &TableProfile,
    old_schema: &Schema,
    new_schema: &Schema,
    rules: &DriftRules,
) -> TableDrift {
    let mut columns = Vec::new();
    for o in &old.columns {
        let rule = rules.columns.get(&o.path).cloned().unwrap_or_default();
        if rule.skip {
            continue;
        }
        if let Some(n) = new.column(&o.path)
            && n.kind == o.kind
        {
            columns.push(column_drift(o, n, &rule, rules));
        }
    }
    columns.sort_by(|a, b| {
        b.drifted
            .cmp(&a.drifted)
            .then(b.severity.total_cmp(&a.severity))
            .then(a.column.cmp(&b.column))
    });
    let tested = columns.iter().filter(|c| c.test.is_some()).count();
    let drifted_columns = columns.iter().filter(|c| c.drifted).count();
    let drift_share = if tested == 0 {
        0.0
    } else {
        drifted_columns as f64 / tested as f64
    };
    TableDrift {
        table: old.table.clone(),
        rows: (old.rows, new.rows),
        segments_shared: 0,
        profiles_computed: old.computed + new.computed,
        columns,
        schema_changes: schema_changes(old_schema, new_schema),
        tested,
        drifted_columns,
        drift_share,
        dataset_drift: tested > 0 && drift_share >= rules.drift_share,
    }
}

/// The drift report between `old` and `new` for `tables` (every table both have when empty).
/// A table in only one of them is reported as a schema change. Segments both versions hold
/// are profiled once (their stored profiles are merged into both sides).
pub fn diff_stats(
    old: &Snapshot,
    new: &Snapshot,
    tables: &[String],
    rules: &DriftRules,
) -> Result<DriftReport> {
    let names: Vec<String> = if tables.is_empty() {
        let mut n: BTreeSet<String> = old.tables().iter().map(|t| t.name.clone()).collect();
        n.extend(new.tables().iter().map(|t| t.name.clone()));
        n.into_iter().collect()
    } else {
        for t in tables {
            if old.manifest().table(t).is_none() && new.manifest().table(t).is_none() {
                old.table(t)?;
            }
        }
        tables.to_vec()
    };
    let mut out = Vec::new();
    for name in names {
        let (to, tn) = (old.manifest().table(&name), new.manifest().table(&name));
        let (Some(to), Some(tn)) = (to, tn) else {
            let (change, t) = match (to, tn) {
                (Some(t), None) => ("table removed", t),
                (None, Some(t)) => ("table added", t),
                _ => continue,
            };
            out.push(TableDrift {
                table: name.clone(),
                rows: (to.map_or(0, |t| t.rows), tn.map_or(0, |t| t.rows)),
                segments_shared: 0,
                profiles_computed: 0,
                columns: Vec::new(),
                schema_changes: vec![SchemaChange {
                    column: String::new(),
                    change: change.into(),
                    old: None,
                    new: None,
                }],
                tested: 0,
                drifted_columns: 0,
                drift_share: 0.0,
                dataset_drift: false,
            });
            let _ = t;
            continue;
        };
        let po = old.profile(&name)?;
        let pn = new.profile(&name)?;
        let mut td = table_drift(&po, &pn, &to.schema, &tn.schema, rules);
        let so: BTreeSet<_> = old.segments(&name)?.into_iter().map(|e| e.id).collect();
        td.segments_shared = new
            .segments(&name)?
            .iter()
            .filter(|e| so.contains(&e.id))
            .count() as u64;
        out.push(td);
    }
    let drifted = out
        .iter()
        .any(|t| t.dataset_drift || !t.schema_changes.is_empty());
    Ok(DriftReport {
        old: old.id().to_hex(),
        new: new.id().to_hex(),
        drift_share_threshold: rules.drift_share,
        tables: out,
        drifted,
    })
}

#[allow(clippy::float_cmp)] // integral values print without decimals
fn short(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}
