"""gunicorn's settings for this app, read from the working directory (`gunicorn wsgi:app`).

Prometheus metrics in multiprocess mode: each worker writes its counters to files in
PROMETHEUS_MULTIPROC_DIR, and /metrics, served by any one worker, adds them all up.
prometheus_client reads the variable when it is first imported, so it is set here, in the
master, before any worker loads the app. Without it, a temporary directory is made (and
removed at exit); a given one is emptied at start, as counters must not carry over from an
earlier run. A worker that exits is marked dead (its live gauges leave the sum).

With LOG_FORMAT=json, gunicorn's own lines (master and workers on stderr, the access log on
stdout) are JSON lines too, like the app's.
"""

import glob
import os
import shutil
import tempfile

if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    from store.log_context import gunicorn_logconfig

    logconfig_dict = gunicorn_logconfig()
    access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'

_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"
_made_dir = None
if not os.environ.get(_MULTIPROC):
    _made_dir = tempfile.mkdtemp(prefix="webinar-sync-metrics-")
    os.environ[_MULTIPROC] = _made_dir


def on_starting(server):
    """Empty the metrics directory: a new master starts counting from zero."""
    directory = os.environ[_MULTIPROC]
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    """Take an exited worker's live gauges out of the sum (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory if gunicorn made it."""
    if _made_dir is not None:
        shutil.rmtree(_made_dir, ignore_errors=True)
