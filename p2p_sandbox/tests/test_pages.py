import re
from html.parser import HTMLParser

import pytest
from django.contrib import messages
from django.http import HttpRequest
from django.template import Context, Template
from django.template.response import TemplateResponse
from django.test import Client, RequestFactory
from django.urls import include, path
from django.utils import translation
from pytest_django.asserts import assertInHTML, assertTemplateUsed

from p2p_sandbox import views


def _disabled(label: str) -> str:
    return (
        '<a class="nav-link is-disabled" role="link" aria-disabled="true" title="Coming soon">'
        f"{label}</a>"
    )


# The primary navigation while the dashboard is not yet routed.
SITE_NAV = [
    '<a class="nav-link" href="/forums/">Forums</a>',
    '<a class="nav-link" href="/use-cases/">Use cases</a>',
    '<a class="nav-link" href="/messages/">Messages</a>',
    _disabled("Dashboard"),
]


async def _page_with_messages(request: HttpRequest) -> TemplateResponse:
    messages.success(request, "Use case published.")
    messages.error(request, "The file could not be uploaded.")
    return TemplateResponse(request, "home.html")


def _section(app_name: str, **routes: str) -> tuple:
    """A URL namespace whose pages (name=route) all render the landing page."""
    return include(
        ([path(route, views.home, name=name) for name, route in routes.items()], app_name)
    )


# The pages the layout links to, as later work will route them; tests marked
# `pytest.mark.urls(__name__)` see the layout with every section in place.
urlpatterns = [
    path("", views.home, name="home"),
    path("forums/", _section("forums", home="")),
    path("use-cases/", _section("usecases", library="")),
    path("messages/", _section("messaging", inbox="")),
    path("dashboard/", _section("dashboard", home="", search="search/")),
    path(
        "accounts/",
        _section(
            "accounts", login="login/", logout="logout/", signup="signup/", profile="profile/"
        ),
    ),
    path("flash/", _page_with_messages),
]


class _ScriptCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))


def _scripts(html: str) -> list[dict[str, str | None]]:
    collector = _ScriptCollector()
    collector.feed(html)
    return collector.scripts


def _csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


def _primary_nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="primary-nav" aria-label="Primary">(.*?)</nav>', html, re.S)
    assert nav is not None
    return re.findall(r"<a [^>]*>.*?</a>", nav.group(1))


def _render(source: str, request: HttpRequest | None = None, **context: object) -> str:
    with translation.override("en"):
        template = Template("{% load navigation %}" + source)
        return template.render(Context({"request": request, **context}))


# Landing page and layout, with the sections not routed yet


def test_home_page_renders_in_english_left_to_right(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assertTemplateUsed(response, "home.html")
    assertTemplateUsed(response, "base.html")
    html = response.content.decode()
    assert '<html lang="en" dir="ltr">' in html
    assert (
        '<h1 class="hero__title" id="hero-title">Where factories learn from factories</h1>' in html
    )


def test_home_page_renders_in_arabic_right_to_left(client: Client) -> None:
    response = client.get("/", headers={"accept-language": "ar"})

    assert response.status_code == 200
    assert response.headers["Content-Language"] == "ar"
    assert '<html lang="ar" dir="rtl">' in response.content.decode()


def test_home_page_nav_links_routed_sections_and_disables_the_others(client: Client) -> None:
    response = client.get("/")

    assert _primary_nav_links(response.content.decode()) == SITE_NAV


def test_home_page_search_is_disabled_until_routed(client: Client) -> None:
    response = client.get("/")

    html = response.content.decode()
    assert (
        '<form class="site-search is-disabled" role="search" aria-label="Search the platform"'
        ' title="Coming soon">'
    ) in html
    assertInHTML(
        '<input class="site-search__input" type="search" id="site-search" name="q" value=""'
        ' placeholder="Search" autocomplete="off" disabled>',
        html,
        count=1,
    )


def test_home_page_sends_content_security_policy(client: Client) -> None:
    response = client.get("/")

    directives = _csp_directives(response.headers["Content-Security-Policy"])
    assert directives["object-src"] == ["'none'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["script-src"][0] == "'self'"
    assert re.fullmatch(r"'nonce-[\w-]+'", directives["script-src"][1])


def test_home_page_scripts_are_static_files_or_carry_the_nonce(client: Client) -> None:
    response = client.get("/")

    script_src = _csp_directives(response.headers["Content-Security-Policy"])["script-src"]
    nonce = script_src[1].removeprefix("'nonce-").removesuffix("'")
    scripts = _scripts(response.content.decode())
    assert scripts == [{"nonce": nonce}, {"src": "/static/js/app.js", "defer": None}]
    for script in scripts:
        assert (script.get("src") or "").startswith("/static/") or script.get("nonce") == nonce


def test_home_page_has_no_inline_style_attributes(client: Client) -> None:
    response = client.get("/")

    html = response.content.decode()
    assert " style=" not in html
    assert "<style" not in html


def test_home_page_menu_button_controls_the_menu(client: Client) -> None:
    response = client.get("/")

    html = response.content.decode()
    assert (
        '<button type="button" class="menu-toggle" id="menu-toggle" aria-expanded="false"'
        ' aria-controls="site-menu">'
    ) in html
    assert '<div class="site-menu" id="site-menu">' in html
    assert '<a class="skip-link" href="#main">Skip to content</a>' in html
    assert '<main id="main" tabindex="-1">' in html


# Error pages


def test_not_found_page_uses_site_layout(client: Client) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assertTemplateUsed(response, "404.html")
    assertTemplateUsed(response, "base.html")
    html = response.content.decode()
    assert '<html lang="en" dir="ltr">' in html
    assert '<h1 class="error-page__title" id="error-title">Page not found</h1>' in html
    assert _primary_nav_links(html) == SITE_NAV
    assert "Content-Security-Policy" in response.headers


def test_server_error_page_renders_without_request_context(rf: RequestFactory) -> None:
    response = views.server_error(rf.get("/broken/"))

    assert response.status_code == 500
    html = response.content.decode()
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html
    assert '<h1 class="error-page__title" id="error-title">Something went wrong</h1>' in html
    assert "<script" not in html
    assert "<form" not in html


# The navigation template tags


def test_nav_link_renders_disabled_placeholder_when_url_name_is_not_routed(
    rf: RequestFactory,
) -> None:
    html = _render('{% nav_link "roadmap:home" "Roadmap" %}', rf.get("/"))

    assert html == _disabled("Roadmap")


def test_nav_link_marks_current_page_when_url_resolves(rf: RequestFactory) -> None:
    html = _render('{% nav_link "home" "Home" %}', rf.get("/"))

    assert html == '<a class="nav-link" href="/" aria-current="page">Home</a>'


def test_nav_link_root_is_not_current_on_other_paths(rf: RequestFactory) -> None:
    html = _render('{% nav_link "home" "Home" %}', rf.get("/health"))

    assert html == '<a class="nav-link" href="/">Home</a>'


def test_nav_link_without_request_renders_plain_link() -> None:
    html = _render('{% nav_link "home" "Home" css_class="button" %}')

    assert html == '<a class="button" href="/">Home</a>'


def test_nav_link_escapes_label(rf: RequestFactory) -> None:
    html = _render('{% nav_link "home" name %}', rf.get("/about/"), name="<b>Home</b>")

    assert html == '<a class="nav-link" href="/">&lt;b&gt;Home&lt;/b&gt;</a>'


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("path", "is_current"),
    [("/forums/", True), ("/forums/topics/7/", True), ("/forums-archive/", False), ("/", False)],
)
def test_nav_link_marks_its_section_current(
    rf: RequestFactory, path: str, is_current: bool
) -> None:
    html = _render('{% nav_link "forums:home" "Forums" %}', rf.get(path))

    current = ' aria-current="page"' if is_current else ""
    assert html == f'<a class="nav-link" href="/forums/"{current}>Forums</a>'


def test_optional_url_is_empty_when_url_name_is_not_routed() -> None:
    html = _render('{% optional_url "dashboard:search" as url %}[{{ url }}]')

    assert html == "[]"


@pytest.mark.urls(__name__)
def test_optional_url_reverses_routed_url_name() -> None:
    html = _render('{% optional_url "dashboard:search" as url %}[{{ url }}]')

    assert html == "[/dashboard/search/]"


# The layout once the sections are routed


@pytest.mark.urls(__name__)
def test_layout_links_routed_sections_and_marks_current_one(client: Client) -> None:
    response = client.get("/forums/")

    assert _primary_nav_links(response.content.decode()) == [
        '<a class="nav-link" href="/forums/" aria-current="page">Forums</a>',
        '<a class="nav-link" href="/use-cases/">Use cases</a>',
        '<a class="nav-link" href="/messages/">Messages</a>',
        '<a class="nav-link" href="/dashboard/">Dashboard</a>',
    ]


@pytest.mark.urls(__name__)
def test_layout_search_form_submits_get_to_search(client: Client) -> None:
    response = client.get("/dashboard/search/", {"q": "vibration <sensors>"})

    html = response.content.decode()
    assert (
        '<form class="site-search" role="search" aria-label="Search the platform"'
        ' method="get" action="/dashboard/search/">'
    ) in html
    assertInHTML(
        '<input class="site-search__input" type="search" id="site-search" name="q"'
        ' value="vibration &lt;sensors&gt;" placeholder="Search" autocomplete="off">',
        html,
        count=1,
    )


@pytest.mark.urls(__name__)
def test_layout_calls_to_action_link_to_sign_up_and_sign_in(client: Client) -> None:
    response = client.get("/")

    html = response.content.decode()
    assertInHTML(
        '<a class="button button--primary button--large" href="/accounts/signup/">'
        "Join your organization</a>",
        html,
        count=1,
    )
    assertInHTML(
        '<a class="button button--quiet" href="/accounts/login/">Sign in</a>', html, count=1
    )


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_layout_signed_in_user_gets_profile_link_and_sign_out_form(
    client: Client, django_user_model: type
) -> None:
    user = django_user_model.objects.create_user(
        email="sara@gulfprecision.example", first_name="Sara", last_name="Al-Qahtani"
    )
    client.force_login(user)

    response = client.get("/forums/")

    html = response.content.decode()
    user_menu = html.split('<div class="user-menu" id="user-menu">')[1].split("\n</div>")[0]
    assert '<a class="user-menu__name" href="/accounts/profile/">Sara Al-Qahtani</a>' in user_menu
    assert '<form class="user-menu__signout" method="post" action="/accounts/logout/">' in user_menu
    assert re.search(r'<input type="hidden" name="csrfmiddlewaretoken" value="\w+">', user_menu)
    assert '<button class="button button--quiet" type="submit">Sign out</button>' in user_menu
    assert 'href="/accounts/logout/"' not in html
    assert "Sign in" not in user_menu


@pytest.mark.urls(__name__)
def test_layout_renders_messages_in_status_region(client: Client) -> None:
    response = client.get("/flash/")

    html = response.content.decode()
    assertInHTML(
        '<div class="messages container" id="messages" role="status">'
        '<ul class="messages__list">'
        '<li class="message message--success">Use case published.</li>'
        '<li class="message message--error">The file could not be uploaded.</li>'
        "</ul></div>",
        html,
        count=1,
    )


def test_layout_messages_region_is_empty_without_messages(client: Client) -> None:
    response = client.get("/")

    assert '<div class="messages container" id="messages" role="status"></div>' in (
        response.content.decode()
    )


@pytest.mark.django_db
def test_home_offers_signed_in_people_their_next_steps_instead_of_sign_up(
    client: Client, user_factory: object
) -> None:
    client.force_login(user_factory())  # type: ignore[operator]

    html = client.get("/").content.decode()

    assert 'href="/accounts/people/"' in html
    assert 'href="/accounts/signup/"' not in html
