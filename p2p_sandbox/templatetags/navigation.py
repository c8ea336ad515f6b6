"""Links to pages that may not exist yet.

The layout names sections (`forums:home`, `accounts:login`, ...) that later work adds. Until a
URL name resolves, its link renders as a visibly disabled, non-focusable placeholder, so the
layout never breaks and never points at a 404.
"""

from django import template
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

register = template.Library()


def _reverse_or_empty(url_name: str) -> str:
    try:
        return reverse(url_name)
    except NoReverseMatch:
        return ""


def _is_current_section(request: HttpRequest | None, url: str) -> bool:
    """The site root is current only on itself; any other URL also for the paths below it."""
    if request is None:
        return False
    if url == "/":
        return request.path == "/"
    return request.path == url or request.path.startswith(url.rstrip("/") + "/")


@register.simple_tag
def optional_url(url_name: str) -> str:
    """`{% optional_url "dashboard:search" as search_url %}`: the URL, or "" when not routed yet."""
    return _reverse_or_empty(url_name)


@register.simple_tag(takes_context=True)
def nav_link(
    context: template.Context, url_name: str, label: str, css_class: str = "nav-link"
) -> SafeString:
    """A link to `url_name` (marked aria-current on its own section), or a disabled placeholder.

    `{% nav_link "forums:home" _("Forums") %}`
    `{% nav_link "accounts:signup" _("Join") css_class="button button--primary" %}`
    """
    url = _reverse_or_empty(url_name)
    if not url:
        # An <a> without href is not focusable; role and aria-disabled say it is a disabled link.
        return format_html(
            '<a class="{} is-disabled" role="link" aria-disabled="true" title="{}">{}</a>',
            css_class,
            gettext("Coming soon"),
            label,
        )
    if _is_current_section(context.get("request"), url):
        return format_html(
            '<a class="{}" href="{}" aria-current="page">{}</a>', css_class, url, label
        )
    return format_html('<a class="{}" href="{}">{}</a>', css_class, url, label)
