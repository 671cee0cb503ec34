"""Every relative link in the README and docs/ leads somewhere: the file exists in the repository and, when the
link names a heading (`file.md#anchor`), the target has that heading under GitHub's slug rules.

Links inside fenced code blocks and inline code are not links. External links (http, mailto) are not checked.
"""

import re
import unicodedata
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    path for path in (ROOT / "README.md", ROOT / "api" / "README.md", *(ROOT / "docs").glob("*.md")) if path.is_file()
)

FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+).+?\1")
# [text](target) and ![alt](target); the target may be <bracketed> and followed by a "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose_lines(path: Path, *, keep_code: bool = False) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks, with inline code blanked out unless kept."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line if keep_code else INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)))
    return lines


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link of the document."""
    found = []
    for number, line in prose_lines(path):
        targets = [m.group(1) for m in INLINE_LINK.finditer(line)]
        reference = REFERENCE_LINK.match(line)
        if reference:
            targets.append(reference.group(1))
        found += [(number, target.strip("<>")) for target in targets]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: the rendered text lowercased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"(\*\*|__|\*)", "", text)
    kept = "".join(c for c in text.lower() if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor GitHub gives the document: its headings' slugs (repeats numbered) and explicit HTML anchors."""
    seen: dict[str, int] = {}
    result = set()
    for _number, line in prose_lines(path, keep_code=True):
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
        result.update(HTML_ANCHOR.findall(line))
    return frozenset(result)


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_documents_are_found() -> None:
    names = {relative(p) for p in DOCUMENTS}
    assert {"README.md", "docs/architecture.md", "docs/security.md"} <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=relative)
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for number, target in links(document):
        if EXTERNAL.match(target):
            continue
        location, _, anchor = target.partition("#")
        resolved = (document.parent / unquote(location)).resolve() if location else document
        where = f"{relative(document)}:{number}: {target}"
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{where} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and resolved.suffix == ".md" and unquote(anchor).lower() not in anchors(resolved):
            broken.append(f"{where} (no heading #{anchor} in {relative(resolved)})")
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("document", DOCUMENTS, ids=relative)
def test_nothing_points_at_the_shared_checkout(document: Path) -> None:
    """`../shared/` is outside the repository: broken on GitHub and in every other checkout."""
    hits = [
        f"{relative(document)}:{n}"
        for n, line in enumerate(document.read_text().splitlines(), 1)
        if "../shared/" in line
    ]
    assert not hits, hits


def test_the_readmes_development_section_links_the_architecture_guide() -> None:
    readme = ROOT / "README.md"
    section: list[str] = []
    inside = False
    for _number, line in prose_lines(readme):
        heading = HEADING.match(line)
        if heading:
            if inside and len(heading.group(1)) <= 2:
                break
            inside = heading.group(2).strip() == "Development" and len(heading.group(1)) == 2
            continue
        if inside:
            section.append(line)
    assert section, "README.md has no ## Development section"
    targets = [m.group(1) for line in section for m in INLINE_LINK.finditer(line)]
    assert "docs/architecture.md" in [t.partition("#")[0] for t in targets], targets


def test_the_slugs_follow_githubs_rules() -> None:
    assert slug("Key layout (`fleet/blobs/keys.py`)") == "key-layout-fleetblobskeyspy"
    assert slug("Files: `file` and `file/grant`") == "files-file-and-filegrant"
    assert slug("Events (`evt`)") == "events-evt"
    assert slug("Duplicates and conflicts") == "duplicates-and-conflicts"
