"""cart.drivers.identify against real simulators on pseudo-terminals.

Handshakes run in the cart's fixed order, so each request/response family but the first
(Accutorr) hears the request of the family before it first: a foreign request must
neither be answered nor leave the device unable to answer its own. Streaming scales are
told apart by the strictest decoder.
"""

from __future__ import annotations

import pytest

from cart.devices import Role
from cart.drivers.identify import SERIAL_FAMILIES, identify_serial
from cart.errors import ConfigError
from simulators.serial_bp import AccutorrSimulator, BPConfig
from simulators.serial_glucometer import GlucometerConfig, simulator_for
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator

#: (family, the family tried with it: before it in the fixed order, except for Accutorr)
ASKED = [
    ("datascope.accutorr", "onetouch.ultra2"),
    ("onetouch.ultra2", "datascope.accutorr"),
    ("onetouch.ultraeasy", "onetouch.ultra2"),
    ("freestyle.optium", "onetouch.ultraeasy"),
    ("taidoc.td42xx", "freestyle.optium"),
]


def _simulator(family: str):  # type: ignore[no-untyped-def]
    if family == "datascope.accutorr":
        return AccutorrSimulator(BPConfig.fast())
    return simulator_for(family, GlucometerConfig.fast())


@pytest.mark.parametrize(("family", "first"), ASKED)
async def test_each_meter_and_monitor_answers_its_own_handshake(family, first):
    async with _simulator(family) as sim:
        found = await identify_serial(sim.port, families=[first, family], reply_s=0.5)
        assert found is not None
        assert (found.driver, found.transport) == (family, "serial")
        expected = Role.BP if family == "datascope.accutorr" else Role.GLUCOMETER
        assert found.role is expected
        assert found.config("x").port == sim.port


async def test_a_contour_meter_is_heard_offering_enq():
    async with simulator_for("contour.astm", GlucometerConfig.fast()) as sim:
        found = await identify_serial(sim.port, families=["contour.astm"], listen_s=0.4)
        assert found is not None
        assert found.driver == "contour.astm"


@pytest.mark.parametrize("fmt", ["and.weighing", "indicator.st_gs", "tanita.line"])
async def test_streaming_scales_are_told_apart(fmt):
    streams = ["tanita.line", "and.weighing", "indicator.st_gs"]
    async with SerialScaleSimulator(ScaleConfig.fast(format=fmt)) as sim:
        found = await identify_serial(sim.port, families=streams)
        assert found is not None
        assert (found.driver, found.role, found.options) == (fmt, Role.SCALE, {"baudrate": 9600})


async def test_nothing_known_answers_and_unknown_families_are_refused():
    async with AccutorrSimulator(BPConfig.fast()) as sim:
        assert await identify_serial(sim.port, families=["onetouch.ultra2"], reply_s=0.2) is None
        with pytest.raises(ConfigError, match="no serial family"):
            await identify_serial(sim.port, families=["acme.scale"])
    assert "modbus.rtu" in SERIAL_FAMILIES
