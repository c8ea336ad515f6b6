"""Channel groups that accounts names for the apps above it.

`sessions_group(user_id)` receives {"type": "sessions.ended", "user_id": id} after a user's
sessions end (logout, password change or reset, deactivation): a consumer of that user joins the
group and closes its socket on this message.
"""

from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def sessions_group(user_id: int) -> str:
    return f"accounts.sessions.{user_id}"


def send_sessions_ended(user_id: int) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            sessions_group(user_id), {"type": "sessions.ended", "user_id": user_id}
        )


def publish_sessions_ended(user_id: int) -> None:
    transaction.on_commit(partial(send_sessions_ended, user_id), robust=True)
