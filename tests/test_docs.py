"""The user documentation holds: every relative link and image in README.md and docs/*.md points to a
file that exists, and the `r2route ...` commands README shows for the tiny pair run as written.

Only commands that name `--pair tiny` (or `tiny-cross`) are run: they need no download and take
seconds. A shell line in the same code block that writes a file one of them reads (`... > FILE`)
runs first, in bash. Everything runs in a scratch directory.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from r2route.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SRC = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.I)
TINY_PAIRS = ("tiny", "tiny-cross")


def links(text: str) -> list[str]:
    """Link and image targets outside code."""
    prose = INLINE_CODE.sub("", FENCE.sub("", text))
    return LINK.findall(prose) + HTML_SRC.findall(prose)


def test_docs_pages_exist():
    names = {p.name for p in DOCS}
    for page in ("labeling.md", "router.md", "evaluation.md", "server.md", "results.md", "engine.md", "speed.md"):
        assert page in names, f"docs/{page} is missing"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_point_to_existing_files(doc):
    targets = links(doc.read_text(encoding="utf-8"))
    missing = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http(s), mailto: not checked; an anchor within the page
        path = target.split("#", 1)[0]
        if not (doc.parent / path).exists():
            missing.append(target)
    assert not missing, f"{doc.name}: links to missing files: {missing}"
    if doc == README:
        assert any(t.startswith("docs/") for t in targets) and any(t.endswith(".png") for t in targets)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_anchors_into_the_docs_exist():
    headings = {p: {slug(h) for h in re.findall(r"^#+ (.*)$", FENCE.sub("", p.read_text(encoding="utf-8")), re.M)} for p in DOCS}
    missing = []
    for doc in DOCS:
        for target in links(doc.read_text(encoding="utf-8")):
            path, _, anchor = target.partition("#")
            if not anchor or re.match(r"^[a-z][a-z0-9+.-]*:", path, re.I):
                continue
            page = (doc.parent / path).resolve() if path else doc.resolve()
            known = {p.resolve(): h for p, h in headings.items()}
            if page in known and anchor not in known[page]:
                missing.append(f"{doc.name} -> {target}")
    assert not missing, f"anchors with no heading: {missing}"


def bash_blocks(text: str) -> list[list[str]]:
    """The lines of each ```bash block, with backslash continuations joined."""
    blocks = []
    for body in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        lines, cur = [], ""
        for raw in body.splitlines():
            cur += raw.rstrip()
            if cur.endswith("\\"):
                cur = cur[:-1] + " "
                continue
            if cur.strip():
                lines.append(cur.strip())
            cur = ""
        blocks.append(lines)
    return blocks


def runs_on_tiny(line: str) -> bool:
    if not line.startswith("r2route "):
        return False
    argv = shlex.split(line, comments=True)
    return any(a == "--pair" and b in TINY_PAIRS for a, b in zip(argv, argv[1:])) or any(
        a == f"--pair={p}" for a in argv for p in TINY_PAIRS)


def tiny_blocks() -> list[tuple[list[str], list[str]]]:
    """(setup shell lines, tiny r2route lines) for every README block that has tiny commands."""
    out = []
    for lines in bash_blocks(README.read_text(encoding="utf-8")):
        tiny = [ln for ln in lines if runs_on_tiny(ln)]
        if not tiny:
            continue
        setup = []
        for ln in lines:
            m = re.search(r">\s*([\w./-]+)\s*$", ln.split(" #", 1)[0])
            if not ln.startswith("r2route ") and m and any(m.group(1) in t for t in tiny):
                setup.append(ln)
        out.append((setup, tiny))
    return out


def test_readme_shows_tiny_commands_for_the_main_verbs():
    lines = [ln for _, tiny in tiny_blocks() for ln in tiny]
    assert any(" generate " in ln and "--json" in ln for ln in lines), "README: a `generate --pair tiny --json` example"
    assert any("--verify all" in ln for ln in lines), "README: a `--verify all` example on the tiny pair"
    assert any(ln.startswith("r2route label ") for ln in lines), "README: a `label --pair tiny` example"
    assert any(ln.startswith("r2route train-router ") for ln in lines), "README: a `train-router --pair tiny` example"


@pytest.mark.parametrize("block", tiny_blocks(), ids=lambda b: shlex.split(b[1][0])[1])
def test_readme_tiny_commands_run_as_written(block, tmp_path, monkeypatch, capsys):
    setup, tiny = block
    monkeypatch.chdir(tmp_path)
    for line in setup:
        subprocess.run(["bash", "-c", line], cwd=tmp_path, check=True)
    for line in tiny:
        argv = shlex.split(line, comments=True)[1:]
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"`{line}` exited {code}: {err[-2000:]}"
        if "--json" in argv and argv[0] == "generate":
            assert "llm_share" in json.loads(out)
