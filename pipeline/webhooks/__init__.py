"""Outbound webhooks: admins subscribe a URL to pipeline events, which are signed and delivered by Celery.

``models`` holds the subscriptions and the delivery log (the outbox);
``services`` records events in the writer's transaction and runs deliveries;
``transport`` posts one request; ``signing`` says how a body is signed.
"""
