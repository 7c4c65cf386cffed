"""The platforms the simulator can be: what each one reports, the limits it enforces, and its latency preset.

Sources (docs/simulators.md, "Platforms and limits", says how sure each figure is):
- registered-IP capacity: the per-platform table in the project's real-world notes (PAN-OS datasheets); a range or
  a subnet counts as one entry;
- commit queue: Panorama holds at most ten administrator-initiated commits (Panorama 7.1 admin guide); for
  firewalls the limit "varies by platform" and is not published, so they get ten as well;
- latency: registrations and unregistrations per second measured on a VM-50 (kevinsteves/panos-userid-api:
  1,000 entries in chunks of 1,024, 292.97 registers/s and 2,273.66 unregisters/s); no other platform has a
  public measurement, so every preset uses the VM-50's rates. Per-call latency and commit durations are
  estimates, except the PA-220's commit (5-7 minutes, reported by one operator).
"""
import collections

Latency = collections.namedtuple("Latency", "per_call_seconds registrations_per_second "
                                            "unregistrations_per_second commit_seconds")
Latency.__doc__ = """What one management plane costs: each API call, each User-ID entry, each commit job."""

Platform = collections.namedtuple("Platform", "name system_model family registered_ip_capacity "
                                              "commit_queue_limit latency")
Platform.__doc__ = """name: what --model takes; system_model and family: what `show system info` says."""

VM50_REGISTRATIONS_PER_SECOND = 293.0
VM50_UNREGISTRATIONS_PER_SECOND = 2274.0
COMMIT_QUEUE_LIMIT = 10


def _latency(per_call_seconds, commit_seconds):
    return Latency(per_call_seconds, VM50_REGISTRATIONS_PER_SECOND, VM50_UNREGISTRATIONS_PER_SECOND,
                   commit_seconds)


_SMALL = _latency(0.1, 60.0)        # a small management plane: VM-50, PA-220, PA-400, PA-800
_MID = _latency(0.05, 45.0)
_LARGE = _latency(0.05, 30.0)

# (name, system model, family, capacity, latency); VM-Series report model PA-VM and their tier as vm-license.
_TABLE = (
    ("VM-50", "PA-VM", "vm", 1000, _SMALL),
    ("VM-300", "PA-VM", "vm", 200000, _MID),
    ("VM-500", "PA-VM", "vm", 300000, _MID),
    ("VM-700", "PA-VM", "vm", 300000, _LARGE),
    ("PA-220", "PA-220", "200", 1000, _latency(0.1, 360.0)),
    ("PA-410", "PA-410", "400", 1000, _SMALL),
    ("PA-450", "PA-450", "400", 100000, _MID),
    ("PA-460", "PA-460", "400", 100000, _MID),
    ("PA-820", "PA-820", "800", 1000, _SMALL),
    ("PA-3200", "PA-3220", "3200", 200000, _MID),
    ("PA-3430", "PA-3430", "3400", 200000, _MID),
    ("PA-3440", "PA-3440", "3400", 200000, _MID),
    ("PA-5200", "PA-5220", "5200", 500000, _LARGE),
    ("PA-5400", "PA-5410", "5400", 500000, _LARGE),
    ("PA-5450", "PA-5450", "5400", 100000, _LARGE),
    ("PA-7000", "PA-7050", "7000", 100000, _LARGE),
    ("Panorama", "Panorama", "vm", 500000, _LARGE),
)
PLATFORMS = collections.OrderedDict(
    (name, Platform(name, model, family, capacity, COMMIT_QUEUE_LIMIT, latency))
    for name, model, family, capacity, latency in _TABLE)
DEFAULT_PLATFORM = "VM-300"
# Other spellings: what `show system info` reports, and the names PAN-OS gives the members of a series.
_ALIASES = {"PA-VM": "VM-300", "PA-3220": "PA-3200", "PA-3250": "PA-3200", "PA-3260": "PA-3200",
            "PA-5220": "PA-5200", "PA-5250": "PA-5200", "PA-5260": "PA-5200", "PA-5280": "PA-5200",
            "PA-5410": "PA-5400", "PA-5420": "PA-5400", "PA-5430": "PA-5400", "PA-7050": "PA-7000",
            "PA-7080": "PA-7000"}


def platform(name):
    """The Platform called *name* (a --model value, a series member such as PA-3250, PA-VM, or a Panorama
    appliance M-xxx); ValueError naming the known ones otherwise."""
    wanted = str(name or DEFAULT_PLATFORM).strip().upper()
    if wanted.startswith("M-"):                  # Panorama appliances report their own model name
        return PLATFORMS["Panorama"]._replace(system_model=wanted)
    for known, found in PLATFORMS.items():
        if known.upper() == wanted:
            return found
    if wanted in _ALIASES:
        found = PLATFORMS[_ALIASES[wanted]]
        return found if found.system_model == wanted else found._replace(system_model=wanted)
    raise ValueError("unknown model %r: choose one of %s (or a series member such as PA-3250, or M-600)"
                     % (name, ", ".join(PLATFORMS)))
