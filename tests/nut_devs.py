"""The project's own small `.dev` dumps for dummy-ups (upsc format): one per UPS situation to tell apart.

Values are modelled on real dumps (../shared/corpus/nut) but written here so the tests pass without the corpus.
In `.dev` files NUT's config parser interprets `\\"` and `\\\\`, so ESCAPED's model is served as
`Smart "X" 1\\2` and must reach the reading exactly so.
"""

from __future__ import annotations


def dev(status: str, **values: str | None) -> str:
    """A .dev text: identity lines, the given variables (dots written as __, dashes as _; None leaves a default
    line out), then ups.status."""
    lines: dict[str, str | None] = {
        "ups.mfr": "American Power Conversion",
        "ups.model": "Back-UPS XS 1000M",
        "ups.serial": "3B1234X56789",
        "battery.charge": "100",
        "battery.runtime": "2580",
        "ups.load": "17",
        "input.voltage": "230.0",
        "output.voltage": "230.0",
    }
    # "__" is a dot and "_" a dash: input__L1_N__voltage is input.L1-N.voltage.
    lines.update({key.replace("__", ".").replace("_", "-"): value for key, value in values.items()})
    body = "".join(f"{key}: {value}\n" for key, value in lines.items() if value is not None)
    return body + f"ups.status: {status}\n"


ONLINE = dev("OL")
ON_BATTERY = dev("OB DISCHRG", battery__charge="80", battery__runtime="1500", input__voltage="0.0")
LOW_BATTERY = dev("OB LB DISCHRG", battery__charge="9", battery__runtime="120", input__voltage="0.0")
FSD = dev("FSD OB LB", battery__charge="5", battery__runtime="60", input__voltage="0.0")
REPLACE_BATTERY = dev("OL CHRG RB", battery__charge="64")
HE_ALARM = dev("OL HE ALARM", ups__alarm="Internal UPS fault!", ups__mfr="EATON", ups__model="5PX 2000")
ESCAPED = dev("OL", ups__model='Smart \\"X\\" 1\\\\2', ups__mfr="Quote \\\"Co\\\"")
BOGUS = dev("OL", battery__charge="255", battery__runtime="65535", ups__load="17")
# Shaped after (not a copy of) the Eaton 9395 and Powerware 9355 dumps (../shared/corpus/nut): per-phase
# voltages and loads, no input.voltage and no ups.load; bypass phases that must not count; here phase L2 of the
# mains sags. The values are our own.
THREE_PHASE = dev("OL", ups__mfr="EATON", ups__model="9395", input__voltage=None, output__voltage=None,
                  ups__load=None, input__phases="3", output__phases="3",
                  input__L1_N__voltage="231.0", input__L2_N__voltage="196.5", input__L3_N__voltage="229.0",
                  input__bypass__L1_N__voltage="150.0", input__bypass__L2_N__voltage="231.0",
                  input__bypass__L3_N__voltage="231.0",
                  output__L1_N__voltage="230.0", output__L2_N__voltage="229.5", output__L3_N__voltage="230.0",
                  output__L1__power__percent="21.00", output__L2__power__percent="36.00",
                  output__L3__power__percent="24.00")
# Shaped after (not a copy of) APC's Silcon dump: phase-to-phase voltages only, next to the driver's own
# input.voltage, and the load zero-padded as its driver writes it. The values are our own.
PHASE_TO_PHASE = dev("OL", ups__mfr="APC", ups__model="Silcon DP340E", input__voltage="229.0",
                     output__voltage="230.0", ups__load="071.0",
                     input__L1_L2__voltage="398.0", input__L2_L3__voltage="401.0", input__L3_L1__voltage="395.0")

ESCAPED_MODEL = 'Smart "X" 1\\2'
ESCAPED_MFR = 'Quote "Co"'

# name -> (dev text, expected flags, expected numbers as UpsReading fields; None = must be absent)
SCENARIOS: dict[str, tuple[str, tuple[str, ...], dict[str, float | None]]] = {
    "online": (ONLINE, ("OL",), {"battery_charge_ratio": 1.0, "battery_runtime_seconds": 2580.0,
                                 "load_ratio": 0.17, "input_voltage_volts": 230.0, "output_voltage_volts": 230.0}),
    "onbattery": (ON_BATTERY, ("OB", "DISCHRG"), {"battery_charge_ratio": 0.8, "battery_runtime_seconds": 1500.0,
                                                  "input_voltage_volts": 0.0}),
    "lowbatt": (LOW_BATTERY, ("OB", "LB", "DISCHRG"), {"battery_charge_ratio": 0.09,
                                                       "battery_runtime_seconds": 120.0}),
    "fsd": (FSD, ("FSD", "OB", "LB"), {"battery_charge_ratio": 0.05, "battery_runtime_seconds": 60.0}),
    "replbatt": (REPLACE_BATTERY, ("OL", "CHRG", "RB"), {"battery_charge_ratio": 0.64}),
    "healarm": (HE_ALARM, ("OL", "HE", "ALARM"), {"load_ratio": 0.17}),
    "escaped": (ESCAPED, ("OL",), {"battery_charge_ratio": 1.0}),
    "bogus": (BOGUS, ("OL",), {"battery_charge_ratio": None, "battery_runtime_seconds": None, "load_ratio": 0.17}),
    # the lowest phase-to-neutral voltage (L2), the busiest phase's load
    "threephase": (THREE_PHASE, ("OL",), {"input_voltage_volts": 196.5, "output_voltage_volts": 229.5,
                                          "load_ratio": 0.36}),
    # phase-to-phase values never become the single value
    "phasetophase": (PHASE_TO_PHASE, ("OL",), {"input_voltage_volts": 229.0, "output_voltage_volts": 230.0,
                                               "load_ratio": 0.71}),
}
# name -> (input phases, output phases) as the reading must carry them
PHASES: dict[str, tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]] = {
    "threephase": ((("L1-N", 231.0), ("L2-N", 196.5), ("L3-N", 229.0)),
                   (("L1-N", 230.0), ("L2-N", 229.5), ("L3-N", 230.0))),
    "phasetophase": ((("L1-L2", 398.0), ("L2-L3", 401.0), ("L3-L1", 395.0)), ()),
    "online": ((), ()),
}
