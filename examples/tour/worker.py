#!/usr/bin/python3 -u
"""A queue worker for README.md's five-minute tour.

It does "jobs" of JOB_SECS seconds each (default 1), forever. On SIGTERM
it does not stop at once: it finishes the job in progress, then exits 0.
A job that is cut off by SIGKILL never prints "done".

Run it with `python3 -u` (or PYTHONUNBUFFERED=1): under a supervisor its
stdout is a pipe, and Python would otherwise buffer the lines in blocks of
8 KiB, so they would reach the log late, or never if it is killed.
"""
import os
import signal
import time

job_secs = float(os.environ.get("JOB_SECS", "1"))
job = 0
stopping = False


def on_sigterm(_signum, _frame):
    global stopping
    stopping = True
    print(f"SIGTERM: finishing job {job} first")


signal.signal(signal.SIGTERM, on_sigterm)
while not stopping:
    job += 1
    print(f"job {job}: started ({job_secs:g} s)")
    time.sleep(job_secs)  # a signal handler runs, then the sleep goes on (PEP 475)
    print(f"job {job}: done")
print(f"exiting 0 after {job} jobs")
