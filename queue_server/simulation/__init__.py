"""Discrete-event simulation of a centre's day on the real dispatch rule and wait estimate.

Pure Python, no Flask: ``engine.simulate`` drives ``queue_server.dispatch`` for every call
and produces a ``DayRecord``; ``report`` turns a record (simulated or recorded) into the
figures a manager reads; ``predictors`` replays a record to score wait estimates;
``history`` reads a centre's recorded days from the database; ``plan`` reads a staffing
plan (YAML). See docs/simulation.md.
"""
