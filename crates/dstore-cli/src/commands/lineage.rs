//! `dstore lineage [REF] [--down] [--dot]`

use anyhow::Result;
use dstore::lineage::LineageNode;

use super::{Context, RefArg, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    at: RefArg,
    /// Downstream: the snapshots made from this one (`snapshot --from`), in whichever stores
    /// they were committed to.
    #[arg(long)]
    down: bool,
    /// Print a Graphviz digraph (`dstore lineage --dot | dot -Tsvg > lineage.svg`).
    #[arg(long, conflicts_with = "json")]
    dot: bool,
}

fn label(n: &LineageNode) -> String {
    let store = n.store.rsplit('/').next().unwrap_or(&n.store);
    format!(
        "{store}@{}{}",
        &n.snapshot[..12],
        n.table
            .as_ref()
            .map(|t| format!("#{t}"))
            .unwrap_or_default()
    )
}

fn print_tree(n: &LineageNode, prefix: &str, last: bool, root: bool) -> std::io::Result<()> {
    let (branch, next) = if root {
        ("", String::new())
    } else if last {
        ("└── ", format!("{prefix}    "))
    } else {
        ("├── ", format!("{prefix}│   "))
    };
    let msg = n
        .message
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!("  \"{m}\""))
        .unwrap_or_default();
    let note = n
        .note
        .as_ref()
        .map(|m| format!("  ({m})"))
        .unwrap_or_default();
    outln!("{prefix}{branch}{}  {}{msg}{note}", label(n), n.store)?;
    for (i, e) in n.edges.iter().enumerate() {
        print_tree(e, &next, i + 1 == n.edges.len(), false)?;
    }
    Ok(())
}

fn dot_edges(n: &LineageNode, down: bool, out: &mut Vec<String>) {
    for e in &n.edges {
        let (from, to) = if down { (n, e) } else { (e, n) };
        out.push(format!("  \"{}\" -> \"{}\";", dot_id(from), dot_id(to)));
        dot_edges(e, down, out);
    }
}

fn dot_id(n: &LineageNode) -> String {
    format!("{}@{}", n.store, &n.snapshot[..12]).replace('"', "\\\"")
}

fn dot_nodes(n: &LineageNode, out: &mut Vec<String>) {
    out.push(format!(
        "  \"{}\" [label=\"{}\"];",
        dot_id(n),
        label(n).replace('"', "\\\"")
    ));
    for e in &n.edges {
        dot_nodes(e, out);
    }
}

pub(crate) fn run(args: &Args, ctx: &Context) -> Result<()> {
    let store = ctx.store()?;
    let id = args.at.resolve(&store)?.id;
    let tree = store.lineage(&id, args.down, &ctx.remote)?;
    if ctx.json {
        return Ok(print_json(&serde_json::to_value(&tree)?)?);
    }
    if args.dot {
        let mut nodes = Vec::new();
        dot_nodes(&tree, &mut nodes);
        nodes.sort();
        nodes.dedup();
        let mut edges = Vec::new();
        dot_edges(&tree, args.down, &mut edges);
        edges.sort();
        edges.dedup();
        outln!("digraph lineage {{\n  rankdir=LR;\n  node [shape=box];")?;
        for l in nodes.iter().chain(&edges) {
            outln!("{l}")?;
        }
        outln!("}}")?;
        return Ok(());
    }
    print_tree(&tree, "", true, true)?;
    if tree.edges.is_empty() {
        outln!(
            "{}",
            if args.down {
                "(no snapshot was made from it with --from)"
            } else {
                "(its commit names no source: it was not made with --from)"
            }
        )?;
    }
    Ok(())
}
