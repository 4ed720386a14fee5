#!/usr/bin/env python3
"""Doxygen input filter: reads the plain `//` comments of cebus headers as
documentation, so the headers keep the project's comment style.

Doxygen reads only `///`, `//!` and `/** */` comments. This filter prints a
header with these changes, keeping every line in place so that warnings point
at the right line:

- The comment block that opens the file becomes the file's documentation.
- A run of `//` lines at namespace or class scope that directly precedes a
  declaration (no blank line between) becomes that declaration's `///`
  documentation. When more declarations follow it with no blank line or
  comment between, the comment documents each of them: the run becomes a
  Doxygen member group (DISTRIBUTE_GROUP_DOC = YES in the Doxyfile).
  Doxygen lists a group after the ungrouped members of its section.
- A `// text` after a member, enumerator or declaration on the same line
  becomes `///< text`.
- In that prose, outside `code spans` and double quotes, `\\`, `@` and `<`
  are escaped: the comments are plain text, not Doxygen markup.

Comments inside function bodies, comments followed by a blank line (section
notes) and comments that close a scope (`}  // namespace cebus`) stay plain.
Nothing is invented: a declaration without a comment stays undocumented and
Doxygen warns about it.

Usage: doxygen_filter.py FILE (Doxygen's INPUT_FILTER passes the file name).
"""
import re
import sys

DETAIL_NAMESPACE = re.compile(r"^\s*namespace\s+(?:\w+::)*detail\s*$")
SCOPE_KEYWORD = re.compile(
    r"^\s*(?:template\s*<.*>\s*)?(?:\[\[[^\]]*\]\]\s*)*"
    r"(?:namespace|class|struct|union|enum)\b|^\s*extern\s+\"C\"",
    re.S,
)
ACCESS = re.compile(r"^\s*(?:public|private|protected)\s*:")
COMMENT_LINE = re.compile(r"^(\s*)//(?![/!])\s?(.*)$")


def escape(text):
    """Makes comment prose literal for Doxygen: outside `code spans` and
    "double-quoted text", a backslash, an at sign or a `<` would start a
    command or an HTML tag (`urn:uuid:<provider id>` is prose here, not
    markup). Doxygen already reads code spans and quoted text literally, so
    an escape there would show up as a stray backslash. Quotes are paired
    within one line."""
    parts = text.split("`")
    for k in range(0, len(parts), 2):  # even parts are outside code spans
        quoted = parts[k].split('"')
        for q in range(0, len(quoted), 2):  # even parts are outside quotes
            quoted[q] = re.sub(r"([\\@<])", r"\\\1", quoted[q])
        parts[k] = '"'.join(quoted)
    return "`".join(parts)


def scan(lines):
    """Classifies each line by the scope it starts and ends in, and finds
    trailing comments.

    A scope is 'decl' (namespace, class or file scope), 'code' (a function
    body or an initializer) or 'detail' (inside a detail namespace). Returns
    five lists with one entry per line: the scope it starts in, the scope it
    ends in, and the column of its trailing `//` comment (-1 for none). Then
    the scope depth at its start, and the scopes it opens ('decl' for a
    namespace, class or enum body, 'code' for a function body)."""
    stack = []
    prefix = ""
    in_block = False
    starts = []
    ends = []
    trailing = []
    depths = []
    opened = []

    for line in lines:
        starts.append(stack[-1] if stack else "decl")
        depths.append(len(stack))
        opened.append([])
        comment_at = -1
        stripped = line.lstrip()
        if not in_block and stripped.startswith("#"):
            trailing.append(-1)
            ends.append(starts[-1])
            continue

        i = 0
        n = len(line)
        saw_code = False
        while i < n:
            c = line[i]
            if in_block:
                end = line.find("*/", i)
                if end < 0:
                    i = n
                    break
                in_block = False
                i = end + 2
                continue
            if line.startswith("//", i):
                if saw_code:
                    comment_at = i
                break
            if line.startswith("/*", i):
                in_block = True
                i += 2
                continue
            digit_separator = c == "'" and i > 0 and line[i - 1].isalnum()
            if c in "\"'" and not digit_separator:
                # Skip a string or character literal, honouring escapes.
                j = i + 1
                while j < n and line[j] != c:
                    j += 2 if line[j] == "\\" else 1
                prefix += line[i : j + 1]
                saw_code = True
                i = j + 1
                continue
            if not c.isspace():
                saw_code = True
            if c == "{":
                inner = stack[-1] if stack else "decl"
                body = ACCESS.sub("", prefix)
                if inner == "detail" or inner == "decl" and DETAIL_NAMESPACE.match(body):
                    kind = "detail"
                elif inner == "decl" and SCOPE_KEYWORD.match(body):
                    kind = "decl"
                else:
                    kind = "code"
                stack.append(kind)
                opened[-1].append(kind)
                prefix = ""
            elif c == "}":
                if stack:
                    stack.pop()
                prefix = ""
            elif c == ";":
                prefix = ""
            else:
                prefix += c
                if c == ":" and ACCESS.match(prefix):
                    prefix = ""
            i += 1

        if not in_block:
            prefix += " "
        trailing.append(comment_at)
        ends.append(stack[-1] if stack else "decl")
    return starts, ends, trailing, depths, opened


def is_declaration(line):
    text = line.strip()
    if not text or text.startswith(("#", "}", "//")):
        return False
    return not ACCESS.match(text)


def code_part(line, col):
    """Returns the code of a line without its trailing comment (col from
    scan)."""
    return (line[:col] if col >= 0 else line).strip()


def declaration_run(lines, k, starts, trailing, depths, opened):
    """Finds the run of declarations that starts at line k. The run ends
    before the next blank line, comment line, access specifier, preprocessor
    line or end of the enclosing scope at the depth of line k. Lines inside a
    function body belong to their declaration.

    Returns (last line, number of declarations completed at that depth,
    whether one of them opens a class, enum or namespace body)."""
    depth = depths[k]
    n = len(lines)
    last = k
    count = 0
    opens_scope = False
    m = k
    while m < n:
        if depths[m] == depth:
            if starts[m] != "decl" or not is_declaration(lines[m]):
                break
            if COMMENT_LINE.match(lines[m]):
                break
        elif depths[m] < depth:
            break
        if "decl" in opened[m] and depths[m] == depth:
            opens_scope = True
        end_depth = depths[m + 1] if m + 1 < n else 0
        if end_depth == depth and code_part(lines[m], trailing[m]).endswith((";", "}")):
            count += 1
        last = m
        m += 1
    return last, count, opens_scope


def filter_lines(lines):
    starts, ends, trailing, depths, opened = scan(lines)
    out = list(lines)
    n = len(lines)

    for k in range(n):
        if starts[k] == "detail" and ends[k] == "detail":
            out[k] = ""

    # The opening comment block documents the file.
    i = 0
    while i < n and COMMENT_LINE.match(lines[i]):
        i += 1
    if i > 0:
        for k in range(i):
            out[k] = ("/// " + escape(COMMENT_LINE.match(lines[k]).group(2))).rstrip()
        # @file takes the rest of its line as a file name, so it goes last,
        # where nothing follows it and line numbers stay unchanged.
        out[i - 1] = out[i - 1].rstrip() + " @file"

    # Comment runs directly above a declaration at namespace or class scope.
    groups = []
    while i < n:
        if not COMMENT_LINE.match(lines[i]) or starts[i] != "decl":
            i += 1
            continue
        j = i
        while j < n and COMMENT_LINE.match(lines[j]):
            j += 1
        if j < n and starts[j] == "decl" and is_declaration(lines[j]):
            for k in range(i, j):
                m = COMMENT_LINE.match(lines[k])
                out[k] = f"{m.group(1)}/// {escape(m.group(2))}".rstrip()
            groups.append((j, *declaration_run(lines, j, starts, trailing, depths, opened)))
        i = j

    # Trailing comments on members and enumerators.
    for k in range(n):
        col = trailing[k]
        if col < 0 or starts[k] != "decl":
            continue
        code = lines[k][:col].strip()
        enumerator = re.fullmatch(r"\w+(\s*=\s*[^,;{}]+)?", code)
        if code.startswith("}") or not (code.endswith((";", ",", "}")) or enumerator):
            continue
        text = escape(lines[k][col + 2 :].lstrip())
        out[k] = lines[k][:col] + "///< " + text

    # One comment above a run of declarations documents the whole run: the
    # run becomes a member group, and DISTRIBUTE_GROUP_DOC hands the first
    # member's documentation to the others. The markers go on the first and
    # last lines of the run, so no line moves. Classes, enums and namespaces
    # cannot be members of a group, so a run that opens one stays as it is.
    for first, last, count, opens_scope in groups:
        if count < 2 or opens_scope:
            continue
        indent = re.match(r"\s*", out[first]).group(0)
        out[first] = indent + "/**@{*/ " + out[first][len(indent):]
        col = trailing[last]
        if col >= 0 and out[last][col:].startswith("///<"):
            # The member's own `///<` comment runs to the end of the line,
            # so the group closes before it.
            out[last] = out[last][:col] + "/**@}*/ " + out[last][col:]
        else:
            out[last] = out[last] + " /**@}*/"
    return out


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    sys.stdout.write("\n".join(filter_lines(lines)))


if __name__ == "__main__":
    main(sys.argv[1])
