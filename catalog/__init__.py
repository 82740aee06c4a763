"""The referral catalog (hänvisningsstöd): each region's care units, their opening hours, and the search the
nurse filters during a call — by type, urgency, opening time, distance and age. docs/catalog.md."""
