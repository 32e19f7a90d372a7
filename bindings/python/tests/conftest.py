"""Shared fixtures for the tenantguard Python tests."""

from collections.abc import Iterator

import pytest

import tenantguard as tg


@pytest.fixture
def service() -> tg.ServiceRole:
    return tg.ServiceRole()


@pytest.fixture
def guard() -> Iterator[tg.Guard]:
    with tg.Guard.in_memory() as g:
        yield g


@pytest.fixture
def acme(guard: tg.Guard, service: tg.ServiceRole) -> tg.TenantContext:
    ctx = tg.TenantContext.service("acme", service)
    guard.create_tenant(ctx)
    return ctx
