#!/usr/bin/env python3
"""Converts the CESQL TCK YAML files in this folder to tck.json.

Run once after changing a YAML file; the tests read only tck.json, so the
build needs neither Python nor a YAML library. Needs PyYAML (Debian:
python3-yaml).

Timestamps stay strings: the TCK writes `time: 2018-04-26T14:48:09+02:00`
unquoted, which YAML would otherwise turn into a date object. Expressions and
names are taken as the exact text written, so `expression: TRUE` stays the
text "TRUE" instead of a Boolean; results and event values keep their YAML
types (a Boolean or Integer extension is written as one).
"""
import json
import pathlib

import yaml


class Loader(yaml.SafeLoader):
    pass


# Drop the implicit timestamp rule so unquoted times load as plain strings.
Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def main():
    here = pathlib.Path(__file__).resolve().parent
    suites = []
    for path in sorted(here.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        suite = yaml.load(text, Loader=Loader)
        raw = yaml.load(text, Loader=yaml.BaseLoader)
        for test, raw_test in zip(suite["tests"], raw["tests"]):
            test["name"] = raw_test["name"]
            test["expression"] = raw_test["expression"]
        suites.append({"file": path.name, "name": suite["name"], "tests": suite["tests"]})
    out = here / "tck.json"
    out.write_text(json.dumps({"suites": suites}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out}: {sum(len(s['tests']) for s in suites)} cases in {len(suites)} files")


if __name__ == "__main__":
    main()
