"""Open311 GeoReport v2 (开放 311 接口): other apps read the needs list and submit needs.

Mounted at ``/open311``: ``/open311/discovery.{json,xml}`` and ``/open311/v2/...``. It answers in
the GeoReport shapes (lists, ``<service_requests>``, ``[{"code", "description"}]`` errors), not in
the JSON shape of ``/api/v1``, so existing Open311 clients work unchanged.
"""
