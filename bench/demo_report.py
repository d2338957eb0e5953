"""Print the demo database's headline figures as Markdown (pasted into the README).

Usage: python bench/demo_report.py [--db cache/demo.duckdb]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb


def markdown(frame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                       for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="cache/demo.duckdb")
    path = Path(parser.parse_args().db)
    con = duckdb.connect(str(path), read_only=True)
    print(f"database: {path} ({path.stat().st_size / 2**20:.0f} MiB), "
          f"{con.execute('SELECT count(*) FROM models').fetchone()[0]} models, "
          f"{con.execute('SELECT count(*) FROM benchmarks').fetchone()[0]} benchmarks, "
          f"{con.execute('SELECT count(*) FROM sample_metrics').fetchone()[0]:,} sample rows\n")
    acc = con.execute("""
        SELECT method || CASE WHEN retrained THEN ' + retrain' ELSE '' END AS method,
               ratio, round(100 * accuracy, 1) AS acc
        FROM models JOIN evaluations USING (model_id) WHERE benchmark_id = 'clean'""").df()
    table = acc.pivot_table(index="method", columns="ratio", values="acc", aggfunc="first")
    table.columns = [f"{c:.1f}" for c in table.columns]
    print("Clean accuracy (%) per method × pruning ratio\n")
    print(markdown(table.reset_index().fillna("")), "\n")
    mean_corrupt = con.execute("""
        SELECT method || CASE WHEN retrained THEN ' + retrain' ELSE '' END AS method,
               round(100 * avg(accuracy) FILTER (WHERE benchmark_id = 'clean'), 1) AS clean,
               round(100 * avg(accuracy) FILTER (WHERE benchmark_id <> 'clean'), 1) AS corrupted
        FROM models JOIN evaluations USING (model_id) GROUP BY ALL ORDER BY 1""").df()
    print("Mean accuracy (%) over ratios, clean vs the 95 corrupted sets\n")
    print(markdown(mean_corrupt), "\n")
    dense = con.execute("SELECT model_id FROM models WHERE method = 'dense' LIMIT 1").fetchone()[0]
    corr = con.execute("""SELECT target, metric, pearson, spearman, n FROM correlations
        WHERE model_id = ? ORDER BY target, metric""", [dense]).df()
    print(f"Correlations for the dense model {dense} (clean data)\n")
    print(markdown(corr), "\n")
    sim = con.execute("""SELECT rank, corruption_a, corruption_b, similarity, measure
        FROM benchmark_similarity WHERE measure = 'accuracy_pearson' ORDER BY rank LIMIT 5""").df()
    print("Five most redundant corruption pairs\n")
    print(markdown(sim), "\n")
    auc = con.execute("SELECT arch, target, score, auc, n_positive, n FROM vulnerability_auc "
                      "ORDER BY arch, target, auc DESC").df()
    print("Vulnerable-sample AUCs (dense model's geometry alone)\n")
    print(markdown(auc))


if __name__ == "__main__":
    main()
