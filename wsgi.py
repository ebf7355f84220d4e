"""Entry point for WSGI servers: `gunicorn wsgi:app`."""

import gc
import logging
import os
import sys

from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402

app = create_app()
if "gunicorn" in sys.modules and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # gunicorn.conf.py sets it up; another config file must too, or each worker counts alone.
    # Said after create_app, so that it is written in the LOG_FORMAT asked for.
    logging.getLogger(__name__).warning(
        "PROMETHEUS_MULTIPROC_DIR is not set: /metrics shows only the worker that answers"
    )
# Everything built at start-up lives for the whole process: keep the garbage collector from
# walking it again and again (it showed up as 20-60 ms request outliers).
gc.freeze()
