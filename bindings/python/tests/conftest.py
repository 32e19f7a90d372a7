"""Shared fixtures for the tenantguard Python tests."""

from collections.abc import Iterator

import pytest

import tenantguard as tg


@pytest.fixture
def guard_and_service() -> Iterator[tuple[tg.Guard, tg.ServiceRole]]:
    g, s = tg.Guard.in_memory_with_service()
    with g:
        yield g, s


@pytest.fixture
def service(guard_and_service: tuple[tg.Guard, tg.ServiceRole]) -> tg.ServiceRole:
    return guard_and_service[1]


@pytest.fixture
def guard(guard_and_service: tuple[tg.Guard, tg.ServiceRole]) -> tg.Guard:
    return guard_and_service[0]


@pytest.fixture
def acme(guard: tg.Guard, service: tg.ServiceRole) -> tg.TenantContext:
    ctx = tg.TenantContext.service("acme", service)
    guard.create_tenant(ctx)
    return ctx
