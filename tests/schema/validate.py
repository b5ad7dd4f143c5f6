#!/usr/bin/env python3
"""Independent check: validate JSON documents against a phonereport topic schema.

usage: validate.py SCHEMA.json FILE...   (a FILE may hold one JSON value, or JSON lines)
Uses the `jsonschema` package (Draft 2020-12), not our own code. Exit 0 if all are valid.
"""
import json
import sys

import jsonschema


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    bad = 0
    for path in sys.argv[2:]:
        text = open(path).read()
        try:
            docs = [json.loads(text)]
        except json.JSONDecodeError:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        for i, doc in enumerate(docs):
            for err in validator.iter_errors(doc):
                bad += 1
                print(f"{path}[{i}]: {'/'.join(map(str, err.absolute_path))}: {err.message}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
