"""Markdown as people write it in messages, posts and use cases, rendered to HTML that is safe
to put in a page.

CommonMark with raw HTML disabled parses the text; nh3 then keeps only the tags and attributes
below, so no script, event handler, style or `javascript:` link survives even if the parser let
one through. Links get rel="nofollow ugc noopener noreferrer".
"""

import html

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

_parser = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("strikethrough")


def render_markdown(text: str) -> str:
    """The sanitized HTML of `text` (CommonMark plus ~~strikethrough~~)."""
    return nh3.clean(
        _parser.render(text),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow ugc noopener noreferrer",
        strip_comments=True,
    ).strip()


def to_plain_text(rendered: str) -> str:
    """The text of rendered HTML, for previews, emails and notification lines (not escaped)."""
    return html.unescape(" ".join(nh3.clean(rendered, tags=set()).split()))
