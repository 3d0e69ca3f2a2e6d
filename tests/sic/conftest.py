"""Fixtures of the SIC tests (defined in :mod:`tests.sic.support`)."""

from tests.sic.support import fhir_server, medplum_server, sekmet_server, store

__all__ = ["fhir_server", "medplum_server", "sekmet_server", "store"]
