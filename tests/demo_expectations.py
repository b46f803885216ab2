"""What the embedded demo inbox must yield; shared by the demo and capture tests."""

from __future__ import annotations

#: What the demo inbox must yield (refmail/demo/data/README.md, as data):
#: file prefix → (outcome, referrer, provider, prospects).
DEMO_EXPECTED: dict[str, tuple[str, str | None, str | None, list[str]]] = {
    "01": ("created", "priya@ramanit.example", "daniel@okaforlaw.example",
           ["walt@hughesmarine.example"]),
    "02": ("created", "mei@chencpa.example", "tom.becker@beckerroofing.example",
           ["linda@parkfamilybakery.example"]),
    "03": ("created", "greg@lindqvistinsurance.example", "priya@ramanit.example",
           ["carla@morenofamilydental.example"]),
    "04": ("created", "tom.becker@beckerroofing.example", "greg@lindqvistinsurance.example",
           ["frank.kowalski@kowalskihome.example", "janet.kowalski@kowalskihome.example"]),
    "05": ("created", "juergen@muellercoaching.example", "mei@chencpa.example",
           ["katrin@baeckerei-vogel.example"]),
    "06": ("created", "sofia@herreramarketing.example", "rosa@bloomandstem.example",
           ["javier@lacocinaderuiz.example"]),
    "07": ("created", "daniel@okaforlaw.example", "juergen@muellercoaching.example",
           ["robert@nashautobody.example", "emily@nashautobody.example"]),
    "08": ("created", "rosa@bloomandstem.example", "sofia@herreramarketing.example",
           ["amy@trandesignevents.example"]),
    "09": ("created", "greg@lindqvistinsurance.example", None, []),
    "10": ("first_contact", None, None, []),
    "11": ("ignored", None, None, []),
    "12": ("ignored", None, None, []),
    "13": ("bounce", None, None, []),
    "14": ("ignored", None, None, []),
    "15": ("ignored", None, None, []),
}
