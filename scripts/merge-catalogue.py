"""Development: add the messages a package's code uses and its Urdu catalogue lacks, keeping
everything the catalogue already has, in its order.

    .venv/bin/python scripts/merge-catalogue.py POT_FILE PO_FILE

``pybabel update`` re-sorts a catalogue and, with --ignore-obsolete, drops every entry the
extraction does not find. Some of those are used: the core's error messages translated again
in a UI package's catalogue (Flask-Babel merges the catalogues), and ids built at run time
(``_(state)``). So new entries are appended, untranslated, and nothing is removed; the
entries the extraction did not find are listed, to be removed by hand if truly unused.
"""

import sys

from babel.messages.pofile import read_po


def message_id(message):  # type: ignore[no-untyped-def]
    return message.id if isinstance(message.id, str) else message.id[0]


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main(pot_path: str, po_path: str) -> None:
    with open(pot_path, "rb") as fh:
        used = [m for m in read_po(fh) if m.id]
    with open(po_path, "rb") as fh:
        have = {message_id(m) for m in read_po(fh) if m.id}
    added = [m for m in used if message_id(m) not in have]
    with open(po_path, "a", encoding="utf-8") as out:
        for m in added:
            out.write("\n")
            if m.flags:
                out.write(f"#, {', '.join(sorted(m.flags))}\n")
            if isinstance(m.id, str):
                out.write(f"msgid {quoted(m.id)}\nmsgstr \"\"\n")
            else:
                out.write(f"msgid {quoted(m.id[0])}\nmsgid_plural {quoted(m.id[1])}\n")
                out.write('msgstr[0] ""\nmsgstr[1] ""\n')
    unused = sorted(have - {message_id(m) for m in used})
    print(f"{po_path}: {len(added)} added (untranslated), {len(unused)} kept that the code does not name:")
    for text in unused:
        print("   ", text)


if __name__ == "__main__":
    main(*sys.argv[1:3])
