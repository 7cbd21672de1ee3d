"""The sandbox: simulated ERP, WMS, MES and QMS systems served over real HTTP.

A separate Django project (settings module ``sandbox.settings``) with its own process and
database, so the Control Tower talks to it exactly as it would talk to a plant's systems.
"""
