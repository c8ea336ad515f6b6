"""Queueing Celery tasks so that a broker outage never fails the request that queued them.

The work itself is always recorded in the database first (an outbox row, a pending upload), so
a task that could not be queued is picked up again by the periodic job that owns that work.
"""

import logging
from functools import partial

from celery import Task
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)


def delay_safely(task: Task, *args: object) -> bool:
    """Queue `task`; on a broker failure log it and return False instead of raising."""
    try:
        task.delay(*args)
    except BrokerError:
        logger.warning("Broker unreachable; %s%r left for its periodic job", task.name, args)
        return False
    return True


def delay_after_commit(task: Task, *args: object) -> None:
    transaction.on_commit(partial(delay_safely, task, *args), robust=True)
