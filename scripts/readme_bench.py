"""Rewrite the README's Performance and Reliability tables from `make bench` output.

    python scripts/readme_bench.py var/bench/latest.json [README.md]

The tables live between ``<!-- bench:performance -->`` / ``<!-- bench:reliability -->``
markers and their ``<!-- /bench:... -->`` ends; everything else in the README is kept.
A benchmark missing from the JSON leaves its rows out rather than inventing figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _yes(ok: Any) -> str:
    if ok is None:
        return "—"
    return "yes" if ok else "**no**"


def performance(r: dict[str, Any]) -> list[str]:
    rows = ["| Figure | Target | Measured | Meets |", "|---|---|---|---|"]
    dec = r.get("decode_throughput")
    if dec:
        formats = dec["formats"]
        rates = {k: v["frames_per_s"] for k, v in formats.items() if v.get("frames_per_s")}
        worst = min(rates, key=lambda k: rates[k])
        rows.append(
            f"| Decoding, slowest of {len(rates)} formats ({worst}) | >= 100,000 frames/s | "
            f"{rates[worst]:,} frames/s | "
            f"{_yes(all(v.get('meets_target') for v in formats.values()))} |"
        )
    mo = r.get("measure_overhead")
    if mo:
        for name, t in mo["targets"].items():
            target = f"p99 <= {t['target_p99_ms']:g} ms" if t.get("target_p99_ms") else "—"
            rows.append(
                f"| Measurement overhead, {name} ({t.get('transport', 'all')}) | {target} | "
                f"p50 {t['p50_ms']:g} ms, p99 {t['p99_ms']:g} ms | {_yes(t.get('meets_target'))} |"
            )
    cc = r.get("concurrency")
    if cc:
        rows.append(
            f"| Whole screening vs slowest device ({cc['slowest_device']}, realistic timings) | "
            f"<= {cc['target_ratio']:g} x | {cc['ratio']:g} x ({cc['screening_s']:g} s; sequential "
            f"would be {cc['sequential_ratio']:g} x) | {_yes(cc.get('meets_target'))} |"
        )
    sv = r.get("service")
    if sv:
        cold, rss = sv["cold_start_s"], sv["idle_rss_mb"]
        rows.append(
            f"| Cold start to healthy /health | <= {cold['target']:g} s | "
            f"median {cold['median']:g} s | {_yes(cold.get('meets_target'))} |"
        )
        rows.append(
            f"| Idle RSS | <= {rss['target']:g} MB | {rss['median']:g} MB | "
            f"{_yes(rss.get('meets_target'))} |"
        )
        for name, e in sv["get_throughput"]["endpoints"].items():
            rows.append(
                f"| GET throughput, {name} | — | {e['requests_per_s']:,} req/s, "
                f"p99 {e['p99_ms']:g} ms | — |"
            )
    st = r.get("store")
    if st:
        n = st["rows"]["measurement"]
        for name, op in st["operations"].items():
            rows.append(
                f"| Store with {n:,} measurements: {name} fetch | "
                f"p99 <= {op['target_p99_ms']:g} ms | p50 {op['p50_ms']:g} ms, "
                f"p99 {op['p99_ms']:g} ms | {_yes(op.get('meets_target'))} |"
            )
    sic = r.get("sic_catchup")
    for server in ("sekmet", "medplum"):
        fig = (sic or {}).get(server)
        if not fig:
            continue
        best = max(fig["runs"], key=lambda run: run["screenings_per_s"])
        before = fig["one_per_screening"]
        devices = f" ({sic['devices']})" if sic.get("devices") else ""
        ceiling = (
            f"; the server's own work caps it at {best['server_bound_speedup']:g} x"
            if "server_bound_speedup" in best
            else ""
        )
        rows.append(
            f"| SIC catch-up of {sic['screenings']:,} screenings{devices}, {fig['server']} | "
            f">= 5 x one request per resource | {best['screenings_per_s']:g} screenings/s "
            f"({best['batch']} per transaction, concurrency {best['concurrency']}, peak RSS "
            f"{best['peak_rss_mb']:g} MB): {best['speedup_vs_per_resource']:g} x one request "
            f"per resource; one transaction per screening: "
            f"{before['speedup_vs_per_resource']:g} x{ceiling} | {_yes(fig.get('meets_goal'))} |"
        )
    return rows


def _count(value: Any) -> int:
    """A drill reports some problems as counts and some as lists of cases."""
    return len(value) if isinstance(value, list | tuple | dict) else int(value or 0)


def reliability(r: dict[str, Any]) -> list[str]:
    rows = ["| Drill | What passes | Result |", "|---|---|---|"]
    fz = r.get("fuzz_decoders")
    if fz:
        rows.append(
            f"| Fuzzing ({fz['inputs_per_decoder']:,} random and mutated inputs per decoder, "
            f"seed {fz['seed']}) | only ProtocolError, no hang | "
            f"{'all decoders pass' if not fz['failed'] else 'failed: ' + ', '.join(fz['failed'])} |"
        )
    fm = r.get("fault_matrix")
    if fm:
        rows.append(
            f"| Fault matrix ({fm['cells']} cells, see docs/reliability.md) | typed error with a "
            f"Spanish message and nothing stored, or a recovered reading | {fm['ok']} ok, "
            f"{fm['recovered']} recovered, {fm['errors']} typed errors, "
            f"{fm['partial_storage_on_error']} partial stores, {len(fm['failing'])} failing |"
        )
    cd = r.get("crash_drill")
    if cd:
        fhir = cd["final_sync"].get("fhir") or {}
        rows.append(
            f"| Crash drill ({cd['kills']} SIGKILLs, seed {cd['seed']}) | integrity_check ok, no "
            f"screening lost or sent twice | {cd['screenings_completed']} completed, "
            f"{_count(cd['integrity_failures'])} integrity failures, "
            f"{_count(cd['lost_screenings'])} lost, "
            f"{len(fhir.get('missing', []))} missing and {len(fhir.get('duplicated', []))} "
            f"duplicated on the FHIR server: {'ok' if cd['ok'] else '**failed**'} |"
        )
    so = r.get("soak")
    if so:
        g = so["growth_after_warmup"]
        ok = all(so["targets"].values())
        rows.append(
            f"| Soak ({so['screenings']:,} screenings) | RSS growth <= 10 MB, no leaked tasks, "
            f"fds or threads | RSS +{g['rss_mb']:g} MB, fds {g['fds']:+d}, threads "
            f"{g['threads']:+d}, tasks {g['tasks']:+d}: {'ok' if ok else '**failed**'} |"
        )
    wp = r.get("wrong_patient")
    if wp:
        ok = wp["targets"]["ok"]
        rows.append(
            f"| Wrong patient ({len(wp['scenarios'])} scenarios x {wp['rounds']} rounds, "
            "restarts, switches, stale and skewed records, races) | 0 readings stored under "
            f"a patient who did not take them | {wp['misattributed']} misattributed, "
            f"{wp['failures']} failed checks in {wp['runs']} runs: "
            f"{'ok' if ok else '**failed**'} |"
        )
    return rows


def replace_block(text: str, name: str, lines: list[str]) -> str:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start not in text or end not in text:
        raise SystemExit(f"README has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + "\n".join(lines) + "\n" + end + tail


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write(__doc__ or "")
        return 2
    results = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    readme = Path(argv[1] if len(argv) > 1 else "README.md")
    m = results.get("machine", {})
    machine = (
        f"Measured by `make bench` on {m.get('cpus', '?')} CPUs ({m.get('processor', '?')}), "
        f"Python {m.get('python', '?')}, {m.get('platform', '?')}."
    )
    text = readme.read_text(encoding="utf-8")
    notes = [f"Note ({name}): {note}." for name, note in results.get("notes", {}).items()]
    perf = [machine, "", *performance(results), *(["", *notes] if notes else [])]
    text = replace_block(text, "performance", perf)
    text = replace_block(text, "reliability", [machine, "", *reliability(results)])
    readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
