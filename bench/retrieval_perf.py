"""Knowledge-base performance: fresh start, warm question latency, memory, re-ingest of one law.

    .venv/bin/python bench/retrieval_perf.py [--rounds 3] [--english]

--english times English questions (the officer sets' English companions) instead of the Chinese
ones: an English question is also judged as the Chinese question it stands for, which costs searches.

Each phase runs in a fresh Python process on an empty data dir, so start-up and resident memory
are what a new `make run` would see. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval_questions import REAL  # noqa: E402  # the list sits next to this script

QUESTIONS = [*REAL[:14], "刑诉法第79条", "治安法83条"]
ENGLISH_QUESTIONS = [
    json.loads(line)["q"]
    for line in (ROOT / "bench" / "data" / "police_dev_en.jsonl").read_text("utf-8").splitlines()[:14]
    if line.strip()
]

SERVE = textwrap.dedent(
    """
    import json, statistics, sys, time
    t0 = time.monotonic()
    from pathlib import Path
    from core.settings import load_settings
    from knowledge import lexical
    from knowledge.service import KnowledgeBase
    kb = KnowledgeBase.open(load_settings(data_dir=Path(sys.argv[1]), _env_file=None))
    t_open = time.monotonic() - t0
    kb.ask(sys.argv[2])
    t_first = time.monotonic() - t0
    questions = json.loads(sys.argv[3])
    rounds = int(sys.argv[4])
    language = sys.argv[5]
    for q in questions:
        kb.ask(q, language=language)  # warm-up: first-use caches
    times = []
    for _ in range(rounds):
        for q in questions:
            # measure a question never seen: no per-question cache (vectors, scores, tokens) helps
            kb.retriever._query_vectors.clear(); kb.retriever._article_scores.clear(); kb.retriever._lexical_cache.clear(); kb.retriever._ranked_cache.clear()
            lexical._short_tokens.cache_clear(); lexical._expansions.cache_clear(); lexical.chinese_rendering.cache_clear()
            s = time.perf_counter(); kb.ask(q, language=language); times.append((time.perf_counter() - s) * 1000)
    times.sort()
    status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
    print(json.dumps({
        "open_s": t_open, "first_answer_s": t_first,
        "p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
        "max_ms": times[-1], "n": len(times),
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024, "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
    }))
    """
)

REINGEST = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from core.settings import load_settings
    from knowledge.service import KnowledgeBase
    corpus = Path(sys.argv[2])
    kb = KnowledgeBase.open(load_settings(data_dir=Path(sys.argv[1]), _env_file=None), corpus_dir=corpus)
    law = corpus / "laws" / "刑事诉讼法(2018-10-26).md"
    text = law.read_text("utf-8")
    text = text.replace("监视居住最长不得超过六个月。", "监视居住最长不得超过五个月。", 1)
    text += "\\n第三百零九条 本条为基准测试新增的条文，用于检验增量导入。\\n"
    law.write_text(text, encoding="utf-8")
    s = time.monotonic()
    report = kb.ingest_bundled()
    elapsed = time.monotonic() - s
    hit = kb.search("监视居住最长不得超过五个月")[0][0]
    print(json.dumps({"reingest_s": elapsed, "summary": report.summary(), "top": hit.law + hit.article}))
    """
)


def run(code: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"phase failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--english", action="store_true", help="time English questions")
    args = parser.parse_args()
    questions, language = (ENGLISH_QUESTIONS, "en") if args.english else (QUESTIONS, "zh")
    with tempfile.TemporaryDirectory(prefix="frontline-perf-") as tmp:
        fresh = run(SERVE, str(Path(tmp) / "fresh"), questions[0], json.dumps(questions), str(args.rounds), language)
        print(f"fresh start: index built and opened in {fresh['open_s']:.1f}s, first answer at {fresh['first_answer_s']:.1f}s")
        print(f"warm ask(): p50 {fresh['p50_ms']:.1f} ms, p95 {fresh['p95_ms']:.1f} ms, max {fresh['max_ms']:.1f} ms over {fresh['n']} questions")
        print(f"resident memory after the questions: {fresh['rss_mb']:.0f} MB (peak {fresh['peak_rss_mb']:.0f} MB)")
        again = run(SERVE, str(Path(tmp) / "fresh"), questions[0], json.dumps(questions[:4]), "1", language)
        print(f"restart on an existing index: opened in {again['open_s']:.1f}s, first answer at {again['first_answer_s']:.1f}s")
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "knowledge" / "corpus", corpus)
        reingest = run(REINGEST, str(Path(tmp) / "reingest"), str(corpus))
        print(f"re-ingest of one changed law (刑事诉讼法, one article changed, one added): {reingest['reingest_s']:.1f}s "
              f"[{reingest['summary']}; top hit for the new wording: {reingest['top']}]")


if __name__ == "__main__":
    main()
