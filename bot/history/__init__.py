"""The learner's history: every finished take kept with its report and audio (issue 25).

One directory tree (``SMASK_HISTORY_DIR``) holds it, so the worker that writes a take and the
web process that shows it need nothing but that folder: on one machine it lives in the state
directory; scaled out (Redis, several worker hosts), point every worker and the web process at
one shared directory (an NFS or similar mount). Writes are a rename of a finished folder, so a
reader on another host never sees half a take.
"""
