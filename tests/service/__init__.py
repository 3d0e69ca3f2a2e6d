"""API tests of the local service: every endpoint, its errors, and the SSE progress."""
