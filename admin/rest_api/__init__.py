"""The read-only REST API for integrations under ``/api/v1`` (see :mod:`admin.rest_api.http`):
``query`` reads query strings, ``auth`` decides on tokens, ``limits`` counts requests (all
pure), ``spec`` is the OpenAPI document, ``http`` the Flask blueprint."""
