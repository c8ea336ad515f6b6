"""A member writes a use case in the browser: the three steps, the live previews, a metric row
added with the script, an attachment previewed before upload and turning ready live when the
worker has processed it, then "Submit for review".

The server and the worker of this test send tasks through the Redis broker (the suite's servers
run them inside the request), so the upload stays pending until the test starts the worker.
"""

import io
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from PIL import Image
from playwright.async_api import expect

from accounts.models import User
from accounts.tests.browser import Tab
from accounts.tests.factories import OrganizationFactory, UserFactory
from p2p_sandbox.testing import (
    BIN,
    ROOT,
    RunningProcess,
    free_port,
    process_env,
    start_process,
    wait_for_child_connections_to_close,
    wait_for_health,
)
from usecases.models import Media, OutcomeMetric, UseCase

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

SETTINGS_MODULE = "p2p_wizard_browser_settings"
WEB_NAME = "p2p-test-wizard-web"
WORKER_NAME = "p2p-test-wizard-worker"
PROCESSING_TIMEOUT_MS = 60_000


@pytest.fixture
def queued_settings(tmp_path: Path) -> dict[str, str]:
    """The environment of this test's server and worker: the test settings with tasks sent to
    the broker, and media files in the test's own folder."""
    package = tmp_path / "settings"
    package.mkdir()
    media_root = tmp_path / "media"
    media_root.mkdir()
    (package / f"{SETTINGS_MODULE}.py").write_text(
        "from p2p_sandbox.settings_test import *  # noqa: F403\n\n"
        "CELERY_TASK_ALWAYS_EAGER = False\n"
        f"MEDIA_ROOT = {str(media_root)!r}\n"
    )
    return {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "PYTHONPATH": os.pathsep.join([str(package), str(ROOT)]),
    }


@pytest.fixture
def queued_server(
    queued_settings: dict[str, str], tmp_path: Path, transactional_db: None
) -> Iterator[str]:
    """Daphne serving the application with `queued_settings`; yields its base URL."""
    port = free_port()
    running = start_process(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "p2p_sandbox.asgi:application"],
        env=process_env(WEB_NAME, **queued_settings),
        log_path=tmp_path / "daphne.log",
    )
    url = f"http://127.0.0.1:{port}"

    try:
        wait_for_health(running, url, name="Daphne")
        yield url
    finally:
        running.stop()
        wait_for_child_connections_to_close(WEB_NAME)


@pytest.fixture
def start_worker(
    queued_settings: dict[str, str], tmp_path: Path, transactional_db: None
) -> Iterator[Callable[[], RunningProcess]]:
    """Starts a Celery worker with `queued_settings` when the test says so."""
    started: list[RunningProcess] = []

    def start() -> RunningProcess:
        running = start_process(
            [
                str(BIN / "celery"),
                "-A",
                "p2p_sandbox",
                "worker",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            env=process_env(WORKER_NAME, **queued_settings),
            log_path=tmp_path / "worker.log",
        )
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            running.stop()
        if started:
            wait_for_child_connections_to_close(WORKER_NAME)


@pytest.fixture
async def tab(browser_page: Any, queued_server: str) -> AsyncIterator[Tab]:
    """A tab of its own browser context on `queued_server`, with its errors recorded."""
    context = await browser_page.page.context.browser.new_context(base_url=queued_server)
    try:
        opened = Tab(await context.new_page())
        opened.record_errors()
        yield opened
    finally:
        await context.close()


def make_author() -> User:
    return UserFactory(
        organization=OrganizationFactory(name="Jubail Valves"),
        first_name="Sara",
        last_name="Haddad",
        job_title="Plant Engineer",
        email="sara@jubail-valves.example",
    )


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (15, 118, 110)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_a_member_writes_a_use_case_in_three_steps_and_submits_it(
    tab: Tab, start_worker: Callable[[], RunningProcess]
) -> None:
    author = await sync_to_async(make_author)()
    page = tab.page

    await tab.sign_in_as(author)

    # Step 1: the organization and the contact are filled in already.
    await page.goto("/use-cases/new/")
    await expect(page.locator(".submission__readonly")).to_have_text("Jubail Valves")
    await expect(page.get_by_label("Contact person")).to_have_value("Sara Haddad")
    await expect(page.get_by_label("Their job title")).to_have_value("Plant Engineer")
    await page.get_by_label("Factory or site").fill("Jubail plant, valve line 3")
    await page.get_by_label("City").select_option("jubail")
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page).to_have_url(re.compile(r"/use-cases/\d+/edit/2/$"))
    use_case_id = int(re.findall(r"/use-cases/(\d+)/", page.url)[0])

    # Step 2: the answers, with their previews and counters.
    title = page.locator("#id_title")
    await title.fill("Vision checks cut valve seat defects by 70%")
    await expect(page.locator('[data-counter-for="title"]')).to_have_text("43 of 100 characters")
    await page.locator("#id_category").select_option("quality_control")
    problem = page.locator("[data-answer]").filter(has=page.locator("#id_problem"))
    await page.locator("#id_problem").fill("Seats were **scratched** in 4% of valves.\n\n- lapping")
    await expect(problem.locator("[data-preview-body] strong")).to_have_text("scratched")
    await expect(problem.locator("[data-preview-body] li")).to_have_text("lapping")
    await page.locator("#id_technology").fill("A camera over the lapping station.")
    await page.locator("#id_budget_range").select_option("50k_250k")
    await page.locator("#id_outcomes").fill("Defects fell to 1.2% in six months.")
    await page.locator("#id_challenges").fill("Glare from the coolant.")
    await page.locator("#id_technology_tags").fill("machine vision, plc")

    rows = page.locator("[data-metric-rows] [data-metric-row]")
    await expect(rows).to_have_count(3)
    await page.get_by_role("button", name="Add a metric").click()
    await expect(rows).to_have_count(4)
    await expect(page.locator('[name="metrics-TOTAL_FORMS"]')).to_have_value("4")
    await page.locator('[name="metrics-3-metric"]').fill("Seat defects")
    await page.locator('[name="metrics-3-unit"]').fill("%")
    await page.locator('[name="metrics-3-baseline"]').fill("4")
    await page.locator('[name="metrics-3-result"]').fill("1.2")
    await page.locator('[name="metrics-3-higher_is_better"]').select_option("lower")
    await rows.nth(1).get_by_role("button", name="Remove").click()
    await expect(rows.nth(1)).to_be_hidden()
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page).to_have_url(re.compile(rf"/use-cases/{use_case_id}/edit/3/$"))

    # Step 3: the chosen image is previewed before it is sent...
    await page.get_by_label("Add photos, videos or PDFs").set_input_files(
        {"name": "valve-line.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()}
    )
    chosen = page.locator("[data-upload-previews] img")
    await expect(chosen).to_have_attribute("src", re.compile(r"^blob:"))
    await page.get_by_role("button", name="Upload").click()

    # ... stays pending while no worker runs, then turns ready live.
    item = page.locator("#media-list [data-media-id]")
    await expect(item).to_have_attribute("data-status", "pending")
    await expect(item.locator("[data-media-status]")).to_have_text("Processing")
    await expect(page.locator("[data-submission-page]")).to_have_attribute(
        "data-live-state", "live"
    )
    await tab.mark_page()
    start_worker()
    await expect(item).to_have_attribute("data-status", "ready", timeout=PROCESSING_TIMEOUT_MS)
    await expect(item.locator("[data-media-status]")).to_have_text("Ready")
    thumbnail = item.locator("[data-media-thumb] img")
    await expect(thumbnail).to_have_attribute("src", re.compile(r"/use-cases/media/\d+/small/$"))
    await page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0",
        arg=await thumbnail.element_handle(),
    )
    await tab.assert_not_reloaded()

    # Submitting: the page says where the use case is now.
    await expect(page.locator("#missing-fields")).to_have_count(0)
    await page.get_by_role("button", name="Submit for review").click()
    await expect(page.locator("#use-case-status")).to_have_text("Submitted for review")
    await expect(page.locator("#messages")).to_contain_text("submitted for review")

    use_case = await UseCase.objects.aget(pk=use_case_id)
    assert (use_case.status, use_case.author_id, use_case.city) == (
        UseCase.Status.SUBMITTED,
        author.pk,
        "jubail",
    )
    assert use_case.title == "Vision checks cut valve seat defects by 70%"
    assert use_case.technology_tags == ["machine vision", "plc"]
    metrics = [
        row
        async for row in OutcomeMetric.objects.filter(use_case_id=use_case_id).values_list(
            "metric", "unit", "baseline", "result", "higher_is_better"
        )
    ]
    assert metrics == [("Seat defects", "%", Decimal("4"), Decimal("1.2"), False)]
    media = await Media.objects.aget(use_case_id=use_case_id)
    assert (media.status, media.kind, media.original_name) == ("ready", "image", "valve-line.jpg")
    assert tab.errors == []
