"""The little Markdown of ``augment evaluate``'s summary, as HTML: ``#`` headings, paragraphs, pipe
tables, ``-`` lists, inline code and ``*emphasis*``. Every text is escaped; nothing else of Markdown
(links, images, raw HTML) is recognised, so a summary can never pull anything into the page.
"""

from __future__ import annotations

import html
import re


def markdown_html(text: str) -> str:
    """The Markdown that ``augment evaluate`` writes, as HTML: ``#`` headings (two levels down),
    paragraphs, pipe tables, ``-`` lists, inline code and ``*emphasis*``. Everything is escaped."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("#"):
            level = len(stripped) - len(stripped.lstrip("#"))
            h = min(6, level + 2)
            out.append(f"<h{h}>{_inline(stripped[level:].strip())}</h{h}>")
            i += 1
        elif stripped.startswith("|"):
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i].strip())
                i += 1
            out.append(_md_table(block))
        elif stripped.startswith("- "):
            items = []
            while i < len(lines) and lines[i].strip().startswith("- "):
                items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
        else:
            para = []
            while (
                i < len(lines)
                and lines[i].strip()
                and not lines[i].strip().startswith(("#", "|", "- "))
            ):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


_EMPHASIS = re.compile(r"\*(\S(?:[^*]*?\S)?)\*")


def _inline(text: str) -> str:
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: keep it literally in the last part
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    out = []
    for k, part in enumerate(parts):
        if k % 2:
            out.append(f"<code>{_escape(part)}</code>")
        else:
            out.append(_EMPHASIS.sub(r"<em>\1</em>", _escape(part)))
    return "".join(out)


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [c.strip() for c in row.split("|")]


def _md_table(block: list[str]) -> str:
    rows = [_cells(r) for r in block]
    is_rule = len(rows) > 1 and all(re.fullmatch(r":?-{3,}:?", c or "---") for c in rows[1])
    head, body = (rows[0], rows[2:]) if is_rule else ([], rows)
    thead = "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>" if head else ""
    tbody = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead>{thead}</thead><tbody>{tbody}</tbody></table>"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


__all__ = ["markdown_html"]
