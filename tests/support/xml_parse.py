"""xml_parse.py - the independent XML parser of the tests (Python's xml.etree).

Usage: xml_parse.py FILE. Parses FILE as XML 1.0 (namespaces on, as ElementTree does) and
prints, as JSON, the root's tag and its children as [tag, text, ua] (text "" when empty, ua
null when absent). Exit status 1, with the parser's message on stdout, if FILE is not
well-formed.
"""
import json
import sys
import xml.etree.ElementTree as ET


def main():
    try:
        root = ET.parse(sys.argv[1]).getroot()
    except ET.ParseError as e:
        print("not well-formed: %s" % e)
        return 1
    params = [[c.tag, c.text or "", c.get("ua")] for c in root]
    print(json.dumps({"root": root.tag, "params": params}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
