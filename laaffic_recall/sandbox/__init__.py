"""A local stand-in for the LAAFFIC auto-recall API, for demos and host projects' tests.

An optional Django app (label ``laaffic_sandbox``): add ``"laaffic_recall.sandbox"`` to
``INSTALLED_APPS`` and include ``laaffic_recall.sandbox.urls`` under a prefix. It speaks
the vendor's wire protocol over HTTP from its own tables, so it holds across processes.
The main app never imports it.
"""
