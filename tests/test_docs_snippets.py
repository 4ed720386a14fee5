#!/usr/bin/env python3
"""Tests of scripts/check_snippets.py on small repositories in a temporary folder.

usage: test_docs_snippets.py CHECKER
"""

import pathlib
import subprocess
import sys
import tempfile
import unittest

CHECKER = None

EXAMPLE = """int main() {
    // [snippet:hello]
    int answer = 42;
    return answer - 42;
    // [snippet:hello]
}
"""


def page(body, name="hello"):
    return f"# Guide\n\n<!-- snippet: examples/hello.cpp {name} -->\n```cpp\n{body}\n```\n"


class CheckSnippets(unittest.TestCase):
    def run_checker(self, files, *extra):
        with tempfile.TemporaryDirectory() as folder:
            root = pathlib.Path(folder)
            (root / "docs").mkdir()
            (root / "examples").mkdir()
            for name, text in files.items():
                (root / name).write_text(text, encoding="utf-8")
            result = subprocess.run([sys.executable, CHECKER, *extra, str(root)],
                                    capture_output=True, text=True, timeout=60)
            pages = {name: (root / name).read_text(encoding="utf-8") for name in files}
            return result, pages

    def test_matching_block_passes(self):
        result, _ = self.run_checker({"examples/hello.cpp": EXAMPLE,
                                      "docs/guide.md": page("int answer = 42;\nreturn answer - 42;")})
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("1 snippet blocks checked, 0 errors", result.stdout)

    def test_changed_line_fails(self):
        result, _ = self.run_checker({"examples/hello.cpp": EXAMPLE,
                                      "docs/guide.md": page("int answer = 43;\nreturn answer - 42;")})
        self.assertEqual(result.returncode, 1)
        self.assertIn("differs from examples/hello.cpp snippet hello at its line 1", result.stdout)

    def test_missing_line_fails(self):
        result, _ = self.run_checker({"examples/hello.cpp": EXAMPLE,
                                      "docs/guide.md": page("int answer = 42;")})
        self.assertEqual(result.returncode, 1)

    def test_unknown_snippet_fails(self):
        result, _ = self.run_checker({"examples/hello.cpp": EXAMPLE,
                                      "docs/guide.md": page("int answer = 42;", name="other")})
        self.assertEqual(result.returncode, 1)
        self.assertIn("has no snippet other", result.stdout)

    def test_unclosed_region_fails(self):
        result, _ = self.run_checker({"examples/hello.cpp": "// [snippet:hello]\nint x;\n",
                                      "docs/guide.md": page("int x;")})
        self.assertEqual(result.returncode, 1)
        self.assertIn("never closed", result.stdout)

    def test_unmarked_cpp_block_fails_in_docs(self):
        result, _ = self.run_checker({"docs/guide.md": "```cpp\nint x;\n```\n"})
        self.assertEqual(result.returncode, 1)
        self.assertIn("C++ block without", result.stdout)

    def test_shell_block_needs_no_marker(self):
        result, _ = self.run_checker({"docs/guide.md": "```sh\nmeson setup build\n```\n"})
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_fix_rewrites_block(self):
        result, pages = self.run_checker({"examples/hello.cpp": EXAMPLE,
                                          "docs/guide.md": page("stale")}, "--fix")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("int answer = 42;\nreturn answer - 42;\n```", pages["docs/guide.md"])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    CHECKER = sys.argv.pop(1)
    unittest.main(verbosity=1)
