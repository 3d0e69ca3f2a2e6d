"""The README's bench tables are generated from bench JSON, replacing only their blocks."""

from __future__ import annotations

import json

from scripts.readme_bench import main

RESULTS = {
    "machine": {"python": "3.11.7", "platform": "Linux", "cpus": 2, "processor": "x86_64"},
    "decode_throughput": {
        "formats": {
            "and.weighing": {"frames_per_s": 250000, "meets_target": True},
            "tanita.line": {"frames_per_s": 104000, "meets_target": True},
        }
    },
    "store": {
        "rows": {"measurement": 1_000_000},
        "operations": {
            "screening": {"p50_ms": 0.8, "p99_ms": 1.3, "target_p99_ms": 20.0, "meets_target": True}
        },
    },
    "crash_drill": {
        "kills": 3,
        "seed": 7,
        "ok": True,
        "screenings_completed": 6,
        "integrity_failures": [],
        "lost_screenings": [],
        "final_sync": {"fhir": {"missing": [], "duplicated": []}},
    },
    "soak": {
        "screenings": 1000,
        "growth_after_warmup": {"rss_mb": 3.5, "fds": 2, "threads": 0, "tasks": 0},
        "targets": {"rss_growth_le_10_mb": True},
    },
    "wrong_patient": {
        "rounds": 2,
        "runs": 14,
        "scenarios": {f"s{i}": {} for i in range(7)},
        "misattributed": 0,
        "failures": 0,
        "targets": {"misattributed": 0, "ok": True},
    },
}


def test_tables_replace_only_their_blocks_and_are_idempotent(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- bench:performance -->\nold\n<!-- /bench:performance -->\nmiddle\n"
        "<!-- bench:reliability -->\n<!-- /bench:reliability -->\nend\n"
    )
    data = tmp_path / "latest.json"
    data.write_text(json.dumps(RESULTS))
    assert main([str(data), str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text
    assert text.startswith("intro\n")
    assert "\nmiddle\n" in text
    assert text.endswith("end\n")
    assert "(tanita.line) | >= 100,000 frames/s | 104,000 frames/s | yes |" in text
    assert "1,000,000 measurements: screening fetch" in text
    assert "RSS +3.5 MB" in text
    assert "6 completed, 0 integrity failures, 0 lost, 0 missing and 0 duplicated" in text
    assert "Wrong patient (7 scenarios x 2 rounds" in text
    assert "0 misattributed, 0 failed checks in 14 runs: ok" in text
    assert "sic_catchup" not in text  # absent benchmarks leave no invented rows
    main([str(data), str(readme)])
    assert readme.read_text() == text


def test_the_sic_catch_up_row_per_server_says_whether_the_goal_is_met():
    from scripts.readme_bench import performance

    def run(batch: int, concurrency: int, rate: float, ratio: float) -> dict[str, object]:
        return {
            "batch": batch,
            "concurrency": concurrency,
            "screenings_per_s": rate,
            "peak_rss_mb": 120.0,
            "speedup_vs_per_resource": ratio,
        }

    sic = {
        "screenings": 300,
        "sekmet": {
            "server": "sekmet-fhir",
            "one_per_screening": run(1, 1, 30.0, 1.4),
            "runs": [run(20, 1, 50.0, 2.3), run(20, 2, 60.0, 2.8)],
            "meets_goal": False,
        },
    }
    rows = [r for r in performance({"sic_catchup": sic}) if "SIC" in r]
    assert rows == [
        "| SIC catch-up of 300 screenings, sekmet-fhir | >= 5 x one request per resource | "
        "60 screenings/s (20 per transaction, concurrency 2, peak RSS 120 MB): 2.8 x one "
        "request per resource; one transaction per screening: 1.4 x | **no** |"
    ]
    sic["devices"] = "one cart's devices"
    sic["sekmet"]["runs"][1]["server_bound_speedup"] = 4.1
    rows = [r for r in performance({"sic_catchup": sic}) if "SIC" in r]
    assert rows == [
        "| SIC catch-up of 300 screenings (one cart's devices), sekmet-fhir | >= 5 x one "
        "request per resource | 60 screenings/s (20 per transaction, concurrency 2, peak RSS "
        "120 MB): 2.8 x one request per resource; one transaction per screening: 1.4 x; the "
        "server's own work caps it at 4.1 x | **no** |"
    ]
