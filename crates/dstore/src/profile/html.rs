//! The drift report as one self-contained HTML file: inline CSS and SVG, no script, no network.
//! Per table a summary and a card per column, most drifted first, each with its plot: old and
//! new histograms overlaid (numerics) or side-by-side bars of the top values (categoricals).

use std::fmt::Write;

use super::drift::{ColumnDrift, DriftReport, Plot, TableDrift};
use super::table::kind_name;

const OLD: &str = "#3b6fb6";
const NEW: &str = "#e8743b";
const W: f64 = 420.0;
const H: f64 = 160.0;
const PAD: f64 = 28.0;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[allow(clippy::float_cmp)] // integral values print without decimals
fn fmt_num(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.is_finite() && (x.abs() >= 1e5 || (x != 0.0 && x.abs() < 1e-3)) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

fn histogram_svg(column: &str, edges: &[f64], old: &[f64], new: &[f64]) -> String {
    let top = old
        .iter()
        .chain(new)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let n = old.len().max(1) as f64;
    let bw = (W - 2.0 * PAD) / n;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="plot histogram" data-column="{}" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" xmlns="http://www.w3.org/2000/svg">"#,
        esc(column)
    );
    let _ = write!(
        s,
        r##"<line x1="{PAD}" y1="{y}" x2="{x2}" y2="{y}" stroke="#888"/>"##,
        y = H - PAD,
        x2 = W - PAD
    );
    for (series, color, cls) in [(old, OLD, "old"), (new, NEW, "new")] {
        for (i, &v) in series.iter().enumerate() {
            let h = (H - 2.0 * PAD) * v / top;
            let _ = write!(
                s,
                r#"<rect class="bar {cls}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="0.5"><title>{cls} {:.1}% in [{}, {})</title></rect>"#,
                PAD + i as f64 * bw,
                H - PAD - h,
                (bw - 1.0).max(1.0),
                h,
                v * 100.0,
                fmt_num(edges[i]),
                fmt_num(edges[(i + 1).min(edges.len() - 1)]),
            );
        }
    }
    let (lo, hi) = (edges[0], edges[edges.len() - 1]);
    let _ = write!(
        s,
        r#"<text x="{PAD}" y="{ty}" font-size="10">{}</text><text x="{x2}" y="{ty}" font-size="10" text-anchor="end">{}</text>"#,
        esc(&fmt_num(lo)),
        esc(&fmt_num(hi)),
        ty = H - PAD + 14.0,
        x2 = W - PAD
    );
    s.push_str("</svg>");
    s
}

fn bars_svg(column: &str, labels: &[String], old: &[f64], new: &[f64]) -> String {
    let top = old
        .iter()
        .chain(new)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let n = labels.len().max(1) as f64;
    let gw = (W - 2.0 * PAD) / n;
    let bw = (gw / 2.0 - 1.0).max(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="plot bars" data-column="{}" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" xmlns="http://www.w3.org/2000/svg">"#,
        esc(column)
    );
    let _ = write!(
        s,
        r##"<line x1="{PAD}" y1="{y}" x2="{x2}" y2="{y}" stroke="#888"/>"##,
        y = H - PAD,
        x2 = W - PAD
    );
    for (i, label) in labels.iter().enumerate() {
        let x = PAD + i as f64 * gw;
        for (j, (v, color, cls)) in [(old[i], OLD, "old"), (new[i], NEW, "new")]
            .into_iter()
            .enumerate()
        {
            let h = (H - 2.0 * PAD) * v / top;
            let _ = write!(
                s,
                r#"<rect class="bar {cls}" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{h:.1}" fill="{color}"><title>{} ({cls}): {:.1}%</title></rect>"#,
                x + j as f64 * (bw + 1.0),
                H - PAD - h,
                esc(label),
                v * 100.0
            );
        }
        let mut shown: String = label.chars().take(10).collect();
        if label.chars().count() > 10 {
            shown.push('…');
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
            x + gw / 2.0,
            H - PAD + 12.0,
            esc(&shown)
        );
    }
    s.push_str("</svg>");
    s
}

fn column_card(c: &ColumnDrift) -> String {
    let mut s = String::new();
    let verdict = if c.drifted { "drift" } else { "ok" };
    let _ = write!(
        s,
        r#"<section class="column {verdict}" data-column="{}"><h3>{} <small>{}</small> <span class="verdict">{}</span></h3>"#,
        esc(&c.column),
        esc(&c.column),
        kind_name(c.kind),
        if c.drifted { "DRIFT" } else { "no drift" }
    );
    match (c.test, c.score, c.threshold) {
        (Some(t), Some(score), Some(th)) => {
            let _ = write!(
                s,
                "<p>{} {}: <b>{}</b> (threshold {}){}</p>",
                t.name(),
                if t.is_p_value() { "p-value" } else { "score" },
                esc(&fmt_num(score)),
                th,
                c.score_error
                    .as_ref()
                    .map(|e| format!(" <small>{}</small>", esc(e)))
                    .unwrap_or_default()
            );
        }
        _ => s.push_str("<p>no distribution test for this column</p>"),
    }
    let _ = write!(
        s,
        "<p>nulls {:.1}% → {:.1}%; values {} → {}</p>",
        c.null_rate.0 * 100.0,
        c.null_rate.1 * 100.0,
        c.count.0,
        c.count.1
    );
    if !c.reasons.is_empty() {
        s.push_str("<ul>");
        for r in &c.reasons {
            let _ = write!(s, "<li>{}</li>", esc(r));
        }
        s.push_str("</ul>");
    }
    match &c.plot {
        Some(Plot::Histogram { edges, old, new }) => {
            s.push_str(&histogram_svg(&c.column, edges, old, new));
        }
        Some(Plot::Bars { labels, old, new }) => {
            s.push_str(&bars_svg(&c.column, labels, old, new));
        }
        None => {}
    }
    s.push_str("</section>");
    s
}

fn table_section(t: &TableDrift) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<h2>table {} <span class="verdict {}">{}</span></h2><p>rows {} → {}; {} segment(s) shared; {} of {} tested columns drifted ({:.0}%)</p>"#,
        esc(&t.table),
        if t.dataset_drift { "drift" } else { "ok" },
        if t.dataset_drift {
            "dataset drift"
        } else {
            "no dataset drift"
        },
        t.rows.0,
        t.rows.1,
        t.segments_shared,
        t.drifted_columns,
        t.tested,
        t.drift_share * 100.0
    );
    if !t.schema_changes.is_empty() {
        s.push_str("<ul class=\"schema\">");
        for c in &t.schema_changes {
            let _ = write!(s, "<li>schema: {} {}</li>", esc(&c.column), esc(&c.change));
        }
        s.push_str("</ul>");
    }
    s.push_str(r#"<div class="grid">"#);
    for c in &t.columns {
        s.push_str(&column_card(c));
    }
    s.push_str("</div>");
    s
}

/// The report as one HTML document.
pub fn to_html(r: &DriftReport) -> String {
    let mut s = String::from(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>dstore drift report</title><style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.column{border:1px solid #ccc;border-radius:6px;padding:8px 12px;width:440px}
.column.drift{border-color:#c0392b;background:#fdf3f2}
.verdict{font-size:12px;padding:2px 6px;border-radius:4px;background:#e6f4ea}
.drift .verdict,.verdict.drift{background:#f8d7da}
h3{margin:4px 0;font-size:16px} h3 small{color:#666;font-weight:normal}
p{margin:4px 0;font-size:13px} ul{margin:4px 0;font-size:13px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
</style></head><body>"#,
    );
    let _ = write!(
        s,
        r#"<h1>What changed: {} → {}</h1><p class="legend"><span style="background:{OLD};opacity:.6"></span>old <span style="background:{NEW};opacity:.6"></span>new</p><p>{}</p>"#,
        esc(&r.old[..12.min(r.old.len())]),
        esc(&r.new[..12.min(r.new.len())]),
        if r.drifted {
            "Drift found."
        } else {
            "No drift found."
        }
    );
    for t in &r.tables {
        s.push_str(&table_section(t));
    }
    s.push_str("</body></html>\n");
    s
}
