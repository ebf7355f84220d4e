"""Entry point for WSGI servers: `gunicorn wsgi:app`."""

import gc

from dotenv import load_dotenv

load_dotenv()

from app import create_app  # noqa: E402

app = create_app()
# Everything built at start-up lives for the whole process: keep the garbage collector from
# walking it again and again (it showed up as 20-60 ms request outliers).
gc.freeze()
