# SPDX-License-Identifier: Apache-2.0
"""The documentation: README.md is the front door, the details live in docs/.

- README.md has at most 300 lines, keeps the two commands (demo, tests), and
  links at least 4 pages of docs/, SECURITY.md and CHANGELOG.md.
- Every relative link in README.md, docs/, SECURITY.md, CHANGELOG.md and the
  directory READMEs points to a file that exists, and a `#fragment` to a
  heading of that file (GitHub's anchor rules).
- No internal references: issue numbers or the team's shared notes.
- docs/development.md describes lib/ layer by layer, and every layer it names
  exists (and every layer that exists is named).
"""
import glob
import os
import re

import pytest

import vmtest

SRC = vmtest.SRC
README = os.path.join(SRC, "README.md")
MAX_README_LINES = 300
LAYERS = ["util", "formats", "vault", "volume", "rotation", "ops", "csi"]


def doc_files():
    files = [README, os.path.join(SRC, "SECURITY.md"), os.path.join(SRC, "CHANGELOG.md"),
             os.path.join(SRC, "manifests", "README.md"),
             os.path.join(SRC, "packaging", "README.md")]
    files += sorted(glob.glob(os.path.join(SRC, "docs", "*.md")))
    return [f for f in files if os.path.exists(f)]


def prose(path):
    """The file's lines outside fenced code blocks."""
    out, fenced = [], False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        out.append("" if fenced else line)
    return out


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(path):
    for n, line in enumerate(prose(path), 1):
        # inline code spans are not links
        line = re.sub(r"`[^`]*`", "", line)
        for m in LINK.finditer(line):
            yield n, m.group(1)


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"`", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    for line in prose(path):
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        s = slug(m.group(2))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else "%s-%d" % (s, n))
    return out


def test_slug_follows_github_rules():
    assert slug("Token in `secrets`: the two-step rollout (KEP-5538)") == \
        "token-in-secrets-the-two-step-rollout-kep-5538"
    assert slug("Node service (systemd, Debian package)") == \
        "node-service-systemd-debian-package"


def test_readme_is_a_front_door():
    lines = open(README, encoding="utf-8").read().splitlines()
    assert len(lines) <= MAX_README_LINES, "README.md has %d lines" % len(lines)
    text = "\n".join(lines)
    # the two commands stay on top
    head = "\n".join(lines[:15])
    assert re.search(r"^test/demo\s", head, re.M) and re.search(r"^test/run\s", head, re.M)
    targets = {t.split("#")[0] for _, t in links(README)}
    pages = {t for t in targets if t.startswith("docs/") and t.endswith(".md")}
    assert len(pages) >= 4, pages
    assert "SECURITY.md" in targets and "CHANGELOG.md" in targets
    # every page of docs/ is on the map
    for page in glob.glob(os.path.join(SRC, "docs", "*.md")):
        assert "docs/" + os.path.basename(page) in targets, page
    for section in ("Quick start: a cluster", "Quick start: a node"):
        assert "## " + section in text


def test_security_policy_and_changelog():
    sec = open(os.path.join(SRC, "SECURITY.md"), encoding="utf-8").read()
    assert re.search(r"^## Reporting", sec, re.M)
    assert re.search(r"^## Supported versions", sec, re.M)
    assert "@" in sec, "a private reporting address"
    cl = open(os.path.join(SRC, "CHANGELOG.md"), encoding="utf-8").read()
    version = re.search(r"version:\s*'([^']+)'",
                        open(os.path.join(SRC, "meson.build")).read()).group(1)
    assert re.search(r"^## %s\b" % re.escape(version), cl, re.M), \
        "CHANGELOG.md has no entry for %s" % version


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: os.path.relpath(p, SRC))
def test_no_dead_relative_links(path):
    dead = []
    for n, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, frag = target.partition("#")
        dest = path if not file_part else os.path.normpath(
            os.path.join(os.path.dirname(path), file_part))
        where = "%s:%d: %s" % (os.path.relpath(path, SRC), n, target)
        if not os.path.exists(dest):
            dead.append(where + " (no such file)")
        elif frag and dest.endswith(".md") and frag not in anchors(dest):
            dead.append(where + " (no such heading)")
        elif not os.path.realpath(dest).startswith(os.path.realpath(SRC) + os.sep):
            dead.append(where + " (outside the repository)")
    assert not dead, "dead links:\n" + "\n".join(dead)


def test_the_link_checker_sees_a_dead_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad](#nowhere)\n"
                    "```\n[in code](ignored.md)\n```\n")
    found = [t for _, t in links(str(page))]
    assert found == ["#title", "missing.md", "#nowhere"]
    assert anchors(str(page)) == {"title"}


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: os.path.relpath(p, SRC))
def test_no_internal_references(path):
    text = open(path, encoding="utf-8").read()
    for pattern in (r"\bissues? #?\d+\b", r"\.\./shared", r"shared docs",
                    r"csi-facts", r"vault-api-facts", r"peers\.md", r"style\.md"):
        m = re.search(pattern, text, re.I)
        assert not m, "%s: internal reference '%s'" % (os.path.relpath(path, SRC), m.group(0))


def test_repository_layout_describes_lib_by_layer():
    dev = open(os.path.join(SRC, "docs", "development.md"), encoding="utf-8").read()
    layout = dev.split("## Repository layout", 1)[1]
    present = sorted(d for d in os.listdir(os.path.join(SRC, "lib"))
                     if os.path.isdir(os.path.join(SRC, "lib", d)))
    assert sorted(LAYERS) == present, present
    for layer in LAYERS:
        assert re.search(r"^\s+%s/\s" % layer, layout, re.M), layer
    # the order of the layers is the order lib/meson.build builds them in
    build = open(os.path.join(SRC, "lib", "meson.build")).read()
    order = re.search(r"layer_order = \[([^\]]*)\]", build).group(1)
    assert re.findall(r"'([a-z]+)'", order) == LAYERS, order
