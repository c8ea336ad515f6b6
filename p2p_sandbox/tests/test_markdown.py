import re

import pytest

from p2p_sandbox.markdown import render_markdown, to_plain_text

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '[x](https://example.com "title" onclick="alert(1)")',
    "![img](javascript:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<details open ontoggle=alert(1)>",
    "<<script>script>alert(1)<</script>/script>",
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
    "[x](&#106;avascript:alert(1))",
    "<!-- <script>alert(1)</script> -->",
    '<form action="https://evil.example"><input name="q"></form>',
]


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_render_markdown_leaves_no_active_content(payload: str) -> None:
    html = render_markdown(payload)

    # Text that looked like HTML comes out escaped (&lt;...), so every "<" left opens a real tag.
    tags = re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>", html)
    assert {name for name, _ in tags} <= {"p", "a", "code", "pre", "em", "strong"}
    for _, attributes in tags:
        assert not re.search(r"\bon[a-z]+\s*=", attributes, re.IGNORECASE)
        assert not re.search(r"(javascript|data|vbscript):", attributes, re.IGNORECASE)
        assert "style" not in attributes


def test_render_markdown_keeps_the_subset_people_write() -> None:
    text = (
        "**Bold**, *italic*, ~~struck~~ and `code`\n\n"
        "- one\n- two\n\n"
        "> quoted\n\n"
        "[docs](https://example.com/a?b=1)"
    )

    assert render_markdown(text) == (
        "<p><strong>Bold</strong>, <em>italic</em>, <s>struck</s> and <code>code</code></p>\n"
        "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        "<blockquote>\n<p>quoted</p>\n</blockquote>\n"
        '<p><a href="https://example.com/a?b=1" rel="nofollow ugc noopener noreferrer">docs</a></p>'
    )


def test_to_plain_text_strips_tags_and_unescapes() -> None:
    assert to_plain_text(render_markdown("**Pumps** & <valves>\n\nnext")) == (
        "Pumps & <valves> next"
    )
