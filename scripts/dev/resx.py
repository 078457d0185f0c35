#!/usr/bin/env python3
"""Keeps Portal/Resources/Text.resx and Text.ja.resx in step: `scripts/dev/resx.py` lists keys missing from either;
`scripts/dev/resx.py add KEY "English" "日本語"` adds or replaces one key in both files."""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "Portal" / "Resources"
FILES = {"en": ROOT / "Text.resx", "ja": ROOT / "Text.ja.resx"}
HEADER = """<?xml version="1.0" encoding="utf-8"?>
<root>
  <resheader name="resmimetype"><value>text/microsoft-resx</value></resheader>
  <resheader name="version"><value>2.0</value></resheader>
  <resheader name="reader"><value>System.Resources.ResXResourceReader, System.Windows.Forms, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089</value></resheader>
  <resheader name="writer"><value>System.Resources.ResXResourceWriter, System.Windows.Forms, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089</value></resheader>
"""


def load(path):
    if not path.exists():
        return {}
    return {d.get("name"): (d.findtext("value") or "") for d in ET.parse(path).getroot().findall("data")}


def save(path, entries):
    out = [HEADER]
    for key in sorted(entries):
        value = entries[key].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(f'  <data name="{key}" xml:space="preserve"><value>{value}</value></data>\n')
    out.append("</root>\n")
    path.write_text("".join(out), encoding="utf-8")


def main(argv):
    tables = {lang: load(p) for lang, p in FILES.items()}
    if argv[:1] == ["add"] and len(argv) == 4:
        _, key, en, ja = argv
        tables["en"][key], tables["ja"][key] = en, ja
        for lang, path in FILES.items():
            save(path, tables[lang])
        return 0
    missing = set(tables["en"]) ^ set(tables["ja"])
    for key in sorted(missing):
        print(f"missing in {'ja' if key in tables['en'] else 'en'}: {key}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
