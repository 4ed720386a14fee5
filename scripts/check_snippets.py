#!/usr/bin/env python3
"""Check that every code snippet in the docs is the text of a compiled example.

A snippet region in an example source is the lines between two identical
marker lines `// [snippet:NAME]`. In README.md and docs/*.md, a fenced code
block directly preceded by the comment

    <!-- snippet: examples/FILE.cpp NAME -->

must equal that region, after removing the indentation common to all of its
lines. In docs/*.md every C++ block must carry such a comment, so no page can
show code that the build does not compile; an unmarked C++ block in README.md
is reported as a warning.

usage: check_snippets.py [--fix] [ROOT]

ROOT is the repository (default: the parent of this script's folder). With
--fix the marked blocks are rewritten from the examples. Exit status: 0 when
every block matches, 1 when any does not, 2 on a usage error.
"""

import pathlib
import re
import sys
import textwrap

MARKER = re.compile(r"^\s*//\s*\[snippet:([A-Za-z0-9_.-]+)\]\s*$")
COMMENT = re.compile(r"^<!--\s*snippet:\s*(\S+)\s+([A-Za-z0-9_.-]+)\s*-->\s*$")
FENCE = re.compile(r"^(```+|~~~+)\s*([A-Za-z0-9_+-]*)\s*$")
CPP_LANGUAGES = {"cpp", "c++", "cxx", "cc"}


class SnippetError(Exception):
    pass


def read_regions(path):
    """Return {name: text} for the snippet regions of one example source."""
    regions = {}
    open_name = None
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.match(line)
        if not match:
            if open_name is not None:
                lines.append(line)
            continue
        name = match.group(1)
        if open_name is None:
            if name in regions:
                raise SnippetError(f"{path}:{number}: snippet {name} opens a second time")
            open_name, lines = name, []
        elif name == open_name:
            regions[name] = textwrap.dedent("\n".join(lines)).strip("\n")
            open_name = None
        else:
            raise SnippetError(f"{path}:{number}: snippet {name} starts inside snippet {open_name}")
    if open_name is not None:
        raise SnippetError(f"{path}: snippet {open_name} is never closed")
    return regions


def find_blocks(lines):
    """Yield (comment line index or None, fence start, fence end, language) per fenced block."""
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        start = index
        closing = re.compile(r"^" + re.escape(fence.group(1)[0]) + "{" + str(len(fence.group(1))) + r",}\s*$")
        index += 1
        while index < len(lines) and not closing.match(lines[index]):
            index += 1
        if index >= len(lines):
            raise SnippetError(f"line {start + 1}: code block is never closed")
        comment = start - 1 if start > 0 and COMMENT.match(lines[start - 1]) else None
        yield comment, start, index, fence.group(2).lower()
        index += 1


def check_page(root, page, fix, cache):
    """Return (errors, warnings) for one markdown page; rewrite it with --fix."""
    errors, warnings = [], []
    relative = page.relative_to(root)
    lines = page.read_text(encoding="utf-8").split("\n")
    replacements = []
    try:
        blocks = list(find_blocks(lines))
    except SnippetError as error:
        return [f"{relative}: {error}"], []

    for comment, start, end, language in blocks:
        where = f"{relative}:{start + 1}"
        if comment is None:
            if language in CPP_LANGUAGES:
                message = f"{where}: C++ block without a <!-- snippet: examples/FILE.cpp NAME --> comment"
                (warnings if relative.name == "README.md" and relative.parent == pathlib.Path(".") else errors).append(message)
            continue
        source_name, snippet = COMMENT.match(lines[comment]).groups()
        source = root / source_name
        if not source.is_file():
            errors.append(f"{where}: example {source_name} not found")
            continue
        try:
            if source not in cache:
                cache[source] = read_regions(source)
        except SnippetError as error:
            errors.append(str(error))
            continue
        regions = cache[source]
        if snippet not in regions:
            errors.append(f"{where}: {source_name} has no snippet {snippet}")
            continue
        expected = regions[snippet].split("\n")
        shown = lines[start + 1:end]
        if shown != expected:
            if fix:
                replacements.append((start + 1, end, expected))
                continue
            for offset, (got, want) in enumerate(zip(shown + [""] * len(expected), expected + [""] * len(shown))):
                if got != want:
                    errors.append(f"{where}: block differs from {source_name} snippet {snippet} at its line "
                                  f"{offset + 1}:\n    doc:     {got!r}\n    example: {want!r}")
                    break

    if replacements:
        for begin, end, text in reversed(replacements):
            lines[begin:end] = text
        page.write_text("\n".join(lines), encoding="utf-8")
    return errors, warnings


def main(argv):
    args = argv[1:]
    fix = "--fix" in args
    args = [a for a in args if a != "--fix"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        sys.stderr.write(__doc__)
        return 2
    root = pathlib.Path(args[0] if args else pathlib.Path(__file__).resolve().parent.parent).resolve()
    pages = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    cache = {}
    errors, warnings, blocks = [], [], 0
    for page in pages:
        if not page.is_file():
            continue
        text = page.read_text(encoding="utf-8")
        blocks += sum(1 for line in text.split("\n") if COMMENT.match(line))
        page_errors, page_warnings = check_page(root, page, fix, cache)
        errors += page_errors
        warnings += page_warnings
    for warning in warnings:
        print(f"warning: {warning}")
    for error in errors:
        print(f"error: {error}")
    print(f"{blocks} snippet blocks checked, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
