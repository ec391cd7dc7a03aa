"""Development: fill a catalogue's untranslated entries from a Python dict {msgid: msgstr}.

    .venv/bin/python scripts/fill-catalogue.py PO_FILE TRANSLATIONS_PY
"""

import runpy
import sys

from babel.messages.pofile import read_po, write_po

po_path, table_path = sys.argv[1:3]
table = runpy.run_path(table_path)["UR"]
with open(po_path, "rb") as fh:
    catalog = read_po(fh)
missing = []
for message in catalog:
    if not message.id:
        continue
    if not message.string and message.id in table:
        message.string = table[message.id]
    if not message.string:
        missing.append(message.id)
with open(po_path, "wb") as fh:
    write_po(fh, catalog, width=0)
print(f"{po_path}: {len(missing)} untranslated")
for m in missing:
    print("  ", m)
