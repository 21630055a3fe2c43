"""A one-sheet XLSX file written as it is sent: rows become XML as they come and the zip goes out in chunks.

openpyxl's write-only workbook keeps memory flat but cannot start sending
before the last row is written (it zips a finished temporary file), and its
pure-Python XML writer runs at about 4,000 rows a second: a million rows took
minutes of silence, past any proxy's or worker's timeout. An XLSX holding one
table of typed cells needs only a few fixed parts and the sheet's rows, so
they are written here straight into a zip on an unseekable stream (the zip's
sizes go after each part): the first bytes leave at once, nothing is held
but the rows of one chunk, and no temporary file is needed.

Cells: numbers as numbers with a number format, dates as date serials with a
date format, text inline (no shared-string table growing with the rows).
"""

import datetime
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape, quoteattr

from openpyxl.utils import get_column_letter

# Rows turned into XML before the zip is handed what they make.
ROWS_PER_CHUNK = 1000
# Characters XML 1.0 cannot carry; dropped from text (a spreadsheet could not open the file otherwise).
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Characters a sheet's name may not hold.
NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")
EPOCH = datetime.datetime(1899, 12, 30)

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
</Types>"""
ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name={name} sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""
SHEET_START = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"""
SHEET_END = "</sheetData></worksheet>"


def _styles(formats: list[str]) -> str:
    """Style 0 plain, 1 bold (the header), then one per number format, in the order of ``formats``."""
    codes = "".join(
        f'<numFmt numFmtId="{164 + i}" formatCode={quoteattr(code)}/>'
        for i, code in enumerate(formats)
    )
    xfs = "".join(
        f'<xf numFmtId="{164 + i}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        for i in range(len(formats))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<numFmts count="{len(formats)}">{codes}</numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        f'<cellXfs count="{2 + len(formats)}">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        f"{xfs}</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )


def _text(value: str) -> str:
    return escape(ILLEGAL.sub("", value))


def _cell(ref: str, value, style: int | None) -> str:
    """One cell: ``value`` is None, a number, a date or datetime (naive), or text."""
    if value is None:
        return ""
    styled = f' s="{style}"' if style else ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"{styled}><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"{styled}><v>{value!r}</v></c>'
    if isinstance(value, datetime.datetime):
        serial = (value - EPOCH).total_seconds() / 86400
        return f'<c r="{ref}"{styled}><v>{serial!r}</v></c>'
    if isinstance(value, datetime.date):
        return f'<c r="{ref}"{styled}><v>{(value - EPOCH.date()).days}</v></c>'
    return f'<c r="{ref}" t="inlineStr"{styled}><is><t xml:space="preserve">{_text(str(value))}</t></is></c>'


class _Pipe(io.RawIOBase):
    """An unseekable file that keeps what is written until it is taken: the zip's way out."""

    def __init__(self):
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def xlsx_chunks(
    header: list[str], formats: list[str | None], rows: Iterable[list], title: str
) -> Iterator[bytes]:
    """The bytes of an XLSX file of one sheet named ``title``: a bold ``header`` line, then ``rows``
    (lists of cell values, typed), each column in its number format (None: none). Rows are read
    only as the chunks are."""
    distinct = sorted({code for code in formats if code})
    styles = [2 + distinct.index(code) if code else None for code in formats]
    letters = [get_column_letter(i + 1) for i in range(len(header))]
    name = NOT_IN_SHEET_NAMES.sub(" ", title)[:31].strip() or "Sheet1"
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK.format(name=quoteattr(name)))
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _styles(distinct))
        yield pipe.take()
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            cells = "".join(
                _cell(f"{letter}1", text, 1) for letter, text in zip(letters, header, strict=True)
            )
            sheet.write(f'{SHEET_START}<row r="1">{cells}</row>'.encode())
            lines: list[str] = []
            for number, row in enumerate(rows, start=2):
                cells = "".join(
                    _cell(f"{letter}{number}", value, style)
                    for letter, value, style in zip(letters, row, styles, strict=True)
                )
                lines.append(f'<row r="{number}">{cells}</row>')
                if len(lines) == ROWS_PER_CHUNK:
                    sheet.write("".join(lines).encode())
                    lines.clear()
                    chunk = pipe.take()
                    if chunk:
                        yield chunk
            sheet.write(("".join(lines) + SHEET_END).encode())
    yield pipe.take()
