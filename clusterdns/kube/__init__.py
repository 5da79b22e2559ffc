"""A small informer library: list/watch Kubernetes objects into slim in-memory indexes.

It knows Kubernetes and nothing of DNS. ``objects`` turns raw API JSON into slim frozen
objects holding only what cluster DNS needs; ``index`` keeps them indexed by name, service and
IP; ``client`` talks to the API server through the official ``kubernetes`` client (raw JSON,
no model objects); ``informer`` runs list (paged) and watch (bookmarks, resourceVersion, relist
on 410 Gone, backoff with jitter) and feeds the index on the event loop.
"""
