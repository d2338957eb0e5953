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
        SELECT arch, method || CASE WHEN retrained THEN ' + retrain' ELSE '' END AS method,
               ratio, round(100 * accuracy, 1) AS acc
        FROM models JOIN evaluations USING (model_id) WHERE benchmark_id = 'clean'""").df()
    for arch, part in acc.groupby("arch"):
        table = part.pivot_table(index="method", columns="ratio", values="acc", aggfunc="first")
        table.columns = [f"{c:.1f}" for c in table.columns]
        print(f"Clean accuracy (%) of {arch} per method × pruning ratio\n")
        print(markdown(table.reset_index().astype(object).fillna("")), "\n")
    mean_corrupt = con.execute("""
        SELECT arch, method || CASE WHEN retrained THEN ' + retrain' ELSE '' END AS method,
               count(DISTINCT model_id) AS models,
               round(100 * avg(accuracy) FILTER (WHERE benchmark_id = 'clean'), 1) AS clean,
               round(100 * avg(accuracy) FILTER (WHERE benchmark_id <> 'clean'), 1) AS corrupted
        FROM models JOIN evaluations USING (model_id) GROUP BY ALL ORDER BY 1, 2""").df()
    print("Mean accuracy (%) over ratios, clean vs the 95 corrupted sets\n")
    print(markdown(mean_corrupt), "\n")
    effective = con.execute("""
        SELECT arch, method || CASE WHEN retrained THEN ' + retrain' ELSE '' END AS method,
               count(*) AS models, round(100 * avg(clean_accuracy), 1) AS clean,
               round(100 * avg(corrupted_accuracy), 1) AS corrupted,
               round(100 * avg(effective_robustness), 2) AS effective_robustness_points,
               round(100 * min(effective_robustness), 2) AS min_points,
               round(100 * max(effective_robustness), 2) AS max_points
        FROM effective_robustness JOIN models USING (model_id) GROUP BY ALL ORDER BY 1, 2""").df()
    fit = con.execute("SELECT any_value(slope), any_value(intercept), any_value(n_fit) "
                      "FROM effective_robustness").fetchone()
    print(f"Effective robustness (points above the population's logit-linear fit of corrupted "
          f"on clean accuracy: slope {fit[0]:.3f}, intercept {fit[1]:.3f}, {fit[2]} models)\n")
    print(markdown(effective), "\n")
    # The same reading with one fit per architecture family (pruned, MPT and dense models of
    # that family only): families of different corruption robustness pull a population fit.
    from core.analysis.effective import effective_robustness

    accuracy = con.execute("""
        SELECT model_id, arch, method || CASE WHEN retrained THEN ' + retrain' ELSE '' END
               AS method, clean_accuracy, corrupted_accuracy
        FROM effective_robustness JOIN models USING (model_id)
        WHERE arch IN ('lenet5', 'resnet_small')""").df()
    for arch, part in accuracy.groupby("arch"):
        own = effective_robustness(part).merge(part[["model_id", "method"]], on="model_id")
        table = (own.groupby("method")["effective_robustness"].agg(["count", "mean", "min", "max"])
                 .mul([1, 100, 100, 100]).round(2).reset_index())
        print(f"Effective robustness (points) within {arch} alone (fit on its "
              f"{len(part)} models: slope {own.slope.iloc[0]:.3f}, intercept "
              f"{own.intercept.iloc[0]:.3f})\n")
        print(markdown(table), "\n")
    for (dense,) in con.execute("SELECT model_id FROM models WHERE method = 'dense' AND arch IN "
                                "('lenet5', 'resnet_small') ORDER BY arch").fetchall():
        corr = con.execute("""SELECT target, metric, pearson, spearman, n FROM correlations
            WHERE model_id = ? ORDER BY target, metric""", [dense]).df()
        print(f"Correlations for the dense model {dense} (clean data)\n")
        print(markdown(corr), "\n")
    sim = con.execute("""SELECT rank, corruption_a, corruption_b, similarity, measure
        FROM benchmark_similarity WHERE measure = 'accuracy_pearson' ORDER BY rank LIMIT 5""").df()
    print("Five most redundant corruption pairs\n")
    print(markdown(sim), "\n")
    auc = con.execute("SELECT arch, target, score, auc, n_positive, n FROM vulnerability_auc "
                      "WHERE n > 0 ORDER BY arch, target, auc DESC").df()
    print("Vulnerable-sample AUCs (dense model's geometry alone; target 'pie' = disagrees with "
          "the other pruned models)\n")
    print(markdown(auc), "\n")
    if con.execute("SELECT count(*) FROM information_schema.tables "
                   "WHERE table_name = 'pie_auc'").fetchone()[0]:
        seeds = con.execute("""SELECT arch, method, ratio, retrained, avg(correct::INTEGER) * 100
            AS accuracy, count(DISTINCT seed) AS seeds FROM seed_predictions
            GROUP BY ALL ORDER BY ALL""").df()
        print("Seed population: mean clean accuracy (%) over the seeds\n")
        print(markdown(seeds.round(1)), "\n")
        pies = con.execute("""SELECT f.arch, f.ratio, f.retrained, sum(f.pie::INTEGER) AS pies,
            count(*) AS n FROM pie_flags f GROUP BY ALL ORDER BY ALL""").df()
        print("PIEs (Hooker et al.) per pruned seed population\n")
        print(markdown(pies), "\n")
        table = con.execute("SELECT arch, ratio, retrained, score, auc FROM pie_auc").df()
        print("The dense model's geometry against the PIEs (ROC AUC)\n")
        print(markdown(table.pivot_table(index=["arch", "ratio", "retrained"], columns="score",
                                         values="auc").round(3).reset_index()))


if __name__ == "__main__":
    main()
