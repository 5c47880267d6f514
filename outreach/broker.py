"""The dramatiq broker, built from OUTREACH_BROKER_URL before any actor is imported."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from outreach.errors import ConfigurationError

_configured: dramatiq.Broker | None = None


def build_broker(url: str) -> dramatiq.Broker:
    """A broker for `memory://`, `redis://` or `amqp://` URLs."""
    if url.startswith("memory://"):
        broker: dramatiq.Broker = StubBroker()
        broker.emit_after("process_boot")
        return broker
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url)
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    raise ConfigurationError(f"OUTREACH_BROKER_URL: {url!r} is not memory://, redis:// or amqp://")


def configure_broker(url: str) -> dramatiq.Broker:
    """Build the broker and make it dramatiq's global one (once per process)."""
    global _configured
    if _configured is None:
        _configured = build_broker(url)
        dramatiq.set_broker(_configured)
    return _configured


def current_broker() -> dramatiq.Broker:
    """This process's broker, configured from OUTREACH_BROKER_URL if nothing did yet."""
    if _configured is not None:
        return _configured
    from outreach.config import Settings

    return configure_broker(Settings.from_env().broker_url)


def send_by_name(queue: str, actor: str, *, delay_ms: int | None = None) -> None:
    """Enqueue a message (no arguments) for an actor without importing it: services never
    import actors, whose declaration needs the broker, and the worker that receives the
    message has them all (outreach.tasks)."""
    broker = current_broker()
    broker.declare_queue(queue)  # idempotent; a queue's delay queue with it
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=(), kwargs={}, options={}
    )
    broker.enqueue(message, delay=delay_ms)


def is_embedded(broker: dramatiq.Broker) -> bool:
    """True for the in-process broker, whose workers must run inside this process."""
    return isinstance(broker, StubBroker)


_embedded_worker: dramatiq.Worker | None = None


def start_embedded_worker(broker: dramatiq.Broker, threads: int) -> dramatiq.Worker:
    """Start worker threads in this process (embedded mode), once per process."""
    global _embedded_worker
    if _embedded_worker is None:
        # One worker per process: a stopped worker's middleware stays on the broker.
        _embedded_worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
        _embedded_worker.start()
    return _embedded_worker


def stop_embedded_worker(timeout_ms: int) -> None:
    """Stop this process's embedded worker threads (the process is about to exit)."""
    global _embedded_worker
    if _embedded_worker is not None:
        worker = _embedded_worker
        worker.stop(timeout=timeout_ms)
        # A stopped worker's middleware stays on the broker, and for a queue declared later
        # it would add a consumer to the stopped worker: messages nobody processes.
        worker.broker.middleware[:] = [
            m for m in worker.broker.middleware if getattr(m, "worker", None) is not worker
        ]
        _embedded_worker = None
