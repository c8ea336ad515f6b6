"""XSS payloads through the services that store forum Markdown: what lands in content_html (and
in the live payloads) is inert.

Escaped text such as `&lt;img onerror=alert(1)&gt;` is harmless and is kept as text, so the checks
parse the HTML: no element outside the allowed ones, no event-handler attribute, no link or
source with a scheme other than http, https or mailto.
"""

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest

from accounts.models import User
from forums import services
from p2p_sandbox.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

pytestmark = pytest.mark.services

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)<</script>/script>",
    "<img src=x onerror=alert(1)>",
    "*<img src=x onerror=alert(1)>*",
    '<div onmouseover="alert(1)">hover</div>',
    "<body onload=alert(1)>",
    "<input onfocus=alert(1) autofocus>",
    "<details open ontoggle=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<style>body{display:none}</style>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<link rel=stylesheet href=javascript:alert(1)>",
    '<base href="javascript:alert(1)//">',
    "<!-- <script>alert(1)</script> -->",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="&#x6A;avascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](<javascript:alert(1)>)",
    "[click](java\tscript:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '[click](javascript:alert(1) "title")',
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](https://example.com/a.png)',
    '[a](https://example.com "t\\" onmouseover=\\"alert(1)")',
    "[[inner](javascript:alert(1))](https://example.com)",
    "[x](https://example.com)[y](javascript:alert(1))",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "[ref][]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '<https://example.com/" onclick="alert(1)>',
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "> <script>alert(1)</script>",
    "- [x](javascript:alert(1))",
    "<a href='x' onclick='alert(1)'>[link](https://example.com)</a>",
]

# Exact outputs: raw HTML is shown as text; an unsafe Markdown link is not a link.
EXACT = {
    "<script>alert(1)</script>": "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
    "<img src=x onerror=alert(1)>": "<p>&lt;img src=x onerror=alert(1)&gt;</p>",
    "[click](javascript:alert(1))": "<p>[click](javascript:alert(1))</p>",
    "[click](&#106;avascript:alert(1))": "<p>[click](javascript:alert(1))</p>",
    '![x" onerror="alert(1)](https://example.com/a.png)': "<p></p>",
    "[[inner](javascript:alert(1))](https://example.com)": (
        '<p><a href="https://example.com" rel="nofollow ugc noopener noreferrer">'
        "[inner](javascript:alert(1))</a></p>"
    ),
    '[a](https://example.com "t\\" onmouseover=\\"alert(1)")': (
        '<p><a href="https://example.com" title="t&quot; onmouseover=&quot;alert(1)" '
        'rel="nofollow ugc noopener noreferrer">a</a></p>'
    ),
    "```html\n<script>alert(1)</script>\n```": (
        '<pre><code class="language-html">&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>'
    ),
}

SAFE_SCHEMES = {"", "http", "https", "mailto"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "srcdoc", "xlink:href"}


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def unsafe_parts(html: str) -> list[str]:
    problems = []
    if "<script" in html.lower():
        problems.append("<script")
    parser = Elements()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.found:
        if tag not in ALLOWED_TAGS:
            problems.append(f"element {tag}")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"{tag}[{name}]")
            if name not in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}:
                problems.append(f"{tag}[{name}]")
            if name in URL_ATTRIBUTES:
                # Browsers ignore control characters and spaces inside a scheme.
                url = re.sub(r"[\x00-\x20]", "", value or "")
                if urlsplit(url).scheme.lower() not in SAFE_SCHEMES:
                    problems.append(f"{tag}[{name}={value}]")
    return problems


@pytest.fixture
def author(user_factory: Any) -> User:
    return user_factory()


def test_unsafe_parts_finds_what_it_looks_for() -> None:
    assert unsafe_parts('<p onclick="x">a</p>') == ["p[onclick]", "p[onclick]"]
    assert unsafe_parts('<a href=" java\tscript:alert(1)">a</a>') == [
        "a[href= java\tscript:alert(1)]"
    ]
    assert unsafe_parts("<img src=x>") == ["element img", "img[src]"]
    assert unsafe_parts("<SCRIPT>") == ["<script", "element script"]
    assert unsafe_parts('<a href="https://example.com" rel="nofollow">ok</a>') == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_create_topic_and_create_post_store_only_inert_html(
    author: User, user_factory: Any, run_on_commit: Any, sent_events: list, payload: str
) -> None:
    with run_on_commit():
        topic = services.create_topic(
            actor=author, category="general", title="Payload in the opening text", content=payload
        )
        post = services.create_post(actor=user_factory(), topic_id=topic.pk, content=payload)

    topic.refresh_from_db()
    post.refresh_from_db()
    assert unsafe_parts(topic.content_html) == []
    assert unsafe_parts(post.content_html) == []
    live = [event["post"]["content_html"] for _, event in sent_events if "post" in event]
    assert live == [post.content_html]
    assert (topic.content, post.content) == (payload.strip(), payload.strip())
    if payload in EXACT:
        assert (topic.content_html, post.content_html) == (EXACT[payload], EXACT[payload])


@pytest.mark.parametrize("payload", PAYLOADS[:12] + PAYLOADS[24:36])
def test_update_topic_and_update_post_store_only_inert_html(author: User, payload: str) -> None:
    topic = services.create_topic(
        actor=author, category="general", title="Payload in an edit", content="Fine"
    )
    post = services.create_post(actor=author, topic_id=topic.pk, content="Fine")

    services.update_topic(actor=author, topic_id=topic.pk, content=payload)
    services.update_post(actor=author, post_id=post.pk, content=payload)

    topic.refresh_from_db()
    post.refresh_from_db()
    assert unsafe_parts(topic.content_html) == []
    assert unsafe_parts(post.content_html) == []


def test_safe_markdown_keeps_its_formatting(author: User) -> None:
    content = (
        "## Steps\n\n1. Check the **VFD** ~~fault~~ log\n2. Mail [support](mailto:a@example.com)"
        " or see <https://example.com/manual>\n\n```\nF0001 overcurrent\n```"
    )

    topic = services.create_topic(
        actor=author, category="general", title="Formatting is kept", content=content
    )

    topic.refresh_from_db()
    assert topic.content_html == (
        "<h2>Steps</h2>\n<ol>\n<li>Check the <strong>VFD</strong> <s>fault</s> log</li>\n"
        '<li>Mail <a href="mailto:a@example.com" rel="nofollow ugc noopener noreferrer">support'
        '</a> or see <a href="https://example.com/manual" rel="nofollow ugc noopener noreferrer">'
        "https://example.com/manual</a></li>\n</ol>\n<pre><code>F0001 overcurrent\n</code></pre>"
    )
