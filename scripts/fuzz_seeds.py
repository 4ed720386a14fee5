#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets from tests/data.

Usage: fuzz_seeds.py DATA_DIR OUT_DIR

Writes OUT_DIR/<target>/<sha1> files, one input each, for the targets json,
http and cesql (and webhook when tests/data holds webhook deliveries). The
seeds are derived at run time so that new test data improves the fuzzing
without a second copy in the repository:
  json     every .json file, and every event object or array of events in it
  http     every header-and-body text file, plus binary, structured and
           batched renderings of the events found in the JSON files
  cesql    every `expression` in YAML files and every `sql` filter in JSON
  webhook  header files next to a body file (NAME.headers.txt + NAME.body.json)
"""
import base64
import hashlib
import json
import pathlib
import re
import sys

try:
    import yaml
except ImportError:  # python3-yaml is optional: CESQL seeds then come from JSON only
    yaml = None

HEADER_LINE = re.compile(rb"^[A-Za-z0-9-]+:[ \t]?", re.MULTILINE)
CONTEXT = ("specversion", "id", "source", "type")
MAX_SEED = 64 * 1024


class Corpus:
    def __init__(self, root):
        self.root = root
        self.counts = {}

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data or len(data) > MAX_SEED:
            return
        folder = self.root / target
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / hashlib.sha1(data).hexdigest()
        if not path.exists():
            path.write_bytes(data)
            self.counts[target] = self.counts.get(target, 0) + 1


def is_event(value):
    return isinstance(value, dict) and sum(k in value for k in CONTEXT) >= 2


def events_in(value):
    """Yields every event object and every list of event objects."""
    if is_event(value):
        yield value
    if isinstance(value, dict):
        for child in value.values():
            yield from events_in(child)
    elif isinstance(value, list):
        if value and all(is_event(v) for v in value):
            yield value
        for child in value:
            yield from events_in(child)


def binary_rendering(event):
    lines = []
    body = b""
    for name, value in event.items():
        if name in ("data", "data_base64"):
            continue
        if name == "datacontenttype":
            lines.append(f"content-type: {value}")
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        lines.append(f"ce-{name}: {value}")
    if "data_base64" in event and isinstance(event["data_base64"], str):
        try:
            body = base64.b64decode(event["data_base64"], validate=True)
        except ValueError:
            body = event["data_base64"].encode()
    elif "data" in event:
        data = event["data"]
        body = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    return "\n".join(lines).encode() + b"\n\n" + body


def add_json(corpus, raw):
    corpus.add("json", raw)
    try:
        document = json.loads(raw)
    except ValueError:
        return
    for found in events_in(document):
        text = json.dumps(found, ensure_ascii=False)
        corpus.add("json", text)
        if isinstance(found, list):
            corpus.add("http", "content-type: application/cloudevents-batch+json\n\n" + text)
        else:
            corpus.add("http", "content-type: application/cloudevents+json; charset=utf-8\n\n" + text)
            corpus.add("http", binary_rendering(found))
    for sql in find_key(document, "sql"):
        corpus.add("cesql", sql)
    for expression in find_key(document, "expression"):
        corpus.add("cesql", expression)


def find_key(value, key):
    if isinstance(value, dict):
        for name, child in value.items():
            if name == key and isinstance(child, str):
                yield child
            else:
                yield from find_key(child, key)
    elif isinstance(value, list):
        for child in value:
            yield from find_key(child, key)


def add_yaml(corpus, raw):
    if yaml is None:
        return
    try:
        documents = list(yaml.safe_load_all(raw))
    except yaml.YAMLError:
        return
    for document in documents:
        for expression in find_key(document, "expression"):
            corpus.add("cesql", expression)
        # cloudevents/conformance style: context attributes plus data.
        if isinstance(document, dict) and isinstance(document.get("ContextAttributes"), dict):
            event = {k: str(v) for k, v in document["ContextAttributes"].items()}
            if "Data" in document:
                event["data"] = document["Data"]
            corpus.add("json", json.dumps(event, ensure_ascii=False))
            corpus.add("http", binary_rendering(event))


def add_text(corpus, path, raw):
    if len(HEADER_LINE.findall(raw)) < 2:
        return
    corpus.add("http", raw)
    name = path.name
    if name.endswith(".headers.txt"):
        body = path.with_name(name[: -len(".headers.txt")] + ".body.json")
        if body.exists():
            corpus.add("webhook", raw.rstrip(b"\n") + b"\n\n" + body.read_bytes())


def main(data_dir, out_dir):
    corpus = Corpus(pathlib.Path(out_dir))
    for path in sorted(pathlib.Path(data_dir).rglob("*")):
        if not path.is_file() or "fuzz-regressions" in path.parts:
            continue
        raw = path.read_bytes()
        if path.suffix == ".json":
            add_json(corpus, raw)
        elif path.suffix in (".yaml", ".yml"):
            add_yaml(corpus, raw)
        elif path.suffix in (".txt", ".http"):
            add_text(corpus, path, raw)
    summary = ", ".join(f"{t} {n}" for t, n in sorted(corpus.counts.items())) or "none"
    print(f"seeds from {data_dir}: {summary}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
