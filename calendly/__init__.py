"""Calendly API v2 connector: the client, its transport and pagination, typed errors, webhook
signatures, timestamps and locations.

Importable without the app: it uses only the standard library, requests and urllib3 (no Flask,
no database, none of the app's packages). Import names from their defining modules.
"""
