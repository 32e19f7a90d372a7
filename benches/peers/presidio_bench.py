#!/usr/bin/env python3
"""Presidio peer for the redaction benchmark.

Reads the corpus JSON written by `redact_eval` (same documents, same ground truth), runs
Microsoft Presidio's AnalyzerEngine with its pattern recognizers only, and prints JSON:
throughput (MB per CPU-second), 2 KB latency (CPU time, as the machine is shared), and per-type counts (overlap matching, like
the Rust side).

Configuration: no spaCy model can be downloaded here, so the NLP engine is `spacy.blank("en")`
(tokenizer only, no NER): only Presidio's pattern/rule recognizers find anything. They are
restricted to the six entity types both tools share.
Usage: python presidio_bench.py CORPUS.json [MAX_DOCS]
"""
import json
import sys
import time

import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_anonymizer import AnonymizerEngine

TYPE_MAP = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "SSN",
    "IP_ADDRESS": "IP",
}


class BlankSpacyEngine(SpacyNlpEngine):
    """spaCy engine over a blank English pipeline (no model download)."""

    def load(self):
        self.nlp = {"en": spacy.blank("en")}


def score(truth, pred, counts):
    used = [False] * len(truth)
    for k, _, _ in truth:
        counts.setdefault(k, {"truth": 0, "predicted": 0, "tp": 0, "exact": 0})["truth"] += 1
    for k, s, e in pred:
        c = counts.setdefault(k, {"truth": 0, "predicted": 0, "tp": 0, "exact": 0})
        c["predicted"] += 1
        for i, (tk, ts, te) in enumerate(truth):
            if not used[i] and tk == k and s < te and ts < e:
                used[i] = True
                c["tp"] += 1
                if ts == s and te == e:
                    c["exact"] += 1
                break


def main():
    corpus = json.load(open(sys.argv[1], encoding="utf-8"))
    docs = corpus["docs"]
    if len(sys.argv) > 2:
        docs = docs[: int(sys.argv[2])]
    engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    entities = list(TYPE_MAP)
    analyzer.analyze(text="warm up jane@example.com", language="en", entities=entities)
    anonymizer = AnonymizerEngine()
    anon_cpu = 0.0
    counts = {}
    latencies = []
    total_bytes = 0
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for d in docs:
        text = d["text"]
        total_bytes += len(text.encode("utf-8"))
        t0 = time.process_time()
        results = analyzer.analyze(text=text, language="en", entities=entities)
        latencies.append(time.process_time() - t0)
        a0 = time.process_time()
        anonymizer.anonymize(text=text, analyzer_results=results)
        anon_cpu += time.process_time() - a0
        pred = [(TYPE_MAP[r.entity_type], r.start, r.end) for r in results if r.entity_type in TYPE_MAP]
        truth = [(s["type"], s["cstart"], s["cend"]) for s in d["spans"] if s["type"] in TYPE_MAP.values()]
        score(truth, pred, counts)
    cpu = time.process_time() - cpu0 - anon_cpu
    wall = time.perf_counter() - wall0
    latencies.sort()
    from importlib.metadata import version

    print(
        json.dumps(
            {
                "tool": "presidio-analyzer " + version("presidio-analyzer") + " (pattern recognizers, spacy.blank('en'), spaCy " + spacy.__version__ + ")",
                "docs": len(docs),
                "bytes": total_bytes,
                "cpu_seconds": cpu,
                "wall_seconds": wall,
                "mb_per_cpu_s": total_bytes / 1e6 / cpu,
                "anonymize_mb_per_cpu_s": total_bytes / 1e6 / (cpu + anon_cpu),
                "latency_2kb_median_ms": latencies[len(latencies) // 2] * 1e3,
                "latency_2kb_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
                "counts": counts,
            }
        )
    )


if __name__ == "__main__":
    main()
