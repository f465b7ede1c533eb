"""Hosts Guardian never decrypts, even for a profile that inspects everything.

The shipped default (`[https] bypass` replaces it): places where a child's privacy or
money matters more than a parent's view (banks and payment, health, government),
password managers, the update and app-store hosts of operating systems, and apps
known to pin their certificates (they refuse any certificate but their own, so
inspecting them only breaks them). A pattern covers the host and its subdomains. The
names are well-known service domains, collected from the vendors' own documentation
of the hosts their products contact; a household adds its own bank in the settings.
"""

from __future__ import annotations

from collections.abc import Collection

DEFAULT_BYPASS: tuple[str, ...] = (
    # banking and payment
    "paypal.com", "stripe.com", "wise.com", "revolut.com", "monzo.com", "chase.com", "bankofamerica.com",
    "wellsfargo.com", "citi.com", "hsbc.com", "hsbc.co.uk", "barclays.co.uk", "lloydsbank.co.uk",
    "natwest.com", "santander.co.uk", "ing.com", "n26.com", "visa.com", "mastercard.com",
    # health
    "nhs.uk", "healthcare.gov", "mychart.com", "doctolib.fr", "doctolib.de",
    # government
    "gov", "mil", "gov.uk", "gouv.fr", "bund.de", "gc.ca", "gov.au", "europa.eu",
    # password managers
    "1password.com", "1password.eu", "bitwarden.com", "bitwarden.eu", "lastpass.com", "dashlane.com",
    "keepersecurity.com", "proton.me",
    # operating-system and app-store updates
    "apple.com", "icloud.com", "mzstatic.com", "apple-cloudkit.com", "windowsupdate.com",
    "update.microsoft.com", "delivery.mp.microsoft.com", "play.googleapis.com", "android.clients.google.com",
    "update.googleapis.com", "dl.google.com", "debian.org", "ubuntu.com", "raspberrypi.com", "snapcraft.io",
    # apps known to pin their certificates
    "whatsapp.com", "whatsapp.net", "signal.org", "telegram.org", "dropbox.com",
)


def bypass_match(host: str, patterns: Collection[str]) -> str | None:
    """The pattern that covers `host` (itself or a parent domain), else None.
    Linear in the number of labels: each parent domain is one set lookup."""
    name = host.rstrip(".").lower()
    while True:
        if name in patterns:
            return name
        dot = name.find(".")
        if dot < 0:
            return None
        name = name[dot + 1:]
