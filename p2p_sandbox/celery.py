"""The Celery app.

Worker:  celery -A p2p_sandbox worker --loglevel=info
Beat:    celery -A p2p_sandbox beat --loglevel=info

Configuration comes from Django settings under the CELERY_ namespace.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p_sandbox.settings")

app = Celery("p2p_sandbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
