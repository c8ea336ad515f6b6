"""The Redis channel layer as configured from REDIS_URL, against a Redis that restarts."""

from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer

from p2p_sandbox import config
from p2p_sandbox.testing import redis_server

pytestmark = pytest.mark.services


async def test_channel_layer_works_again_on_its_open_connections_after_redis_restarts(
    tmp_path: Path, settings: Any
) -> None:
    with redis_server(tmp_path) as redis:
        settings.CHANNEL_LAYERS = config.channel_layers({"REDIS_URL": redis.url})
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("outage", channel)
        redis.stop()
        redis.start()

        await layer.group_add("outage", channel)
        await layer.group_send("outage", {"type": "after.restart"})
        received = await layer.receive(channel)
        await layer.flush()

    assert received == {"type": "after.restart"}
