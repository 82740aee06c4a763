"""The journal: the nurse's note of a call (draft → signed → amendments), who may read it, and every read
logged; exports for the region's follow-up (FHIR R4, CSV) and the citizen's own access. docs/journal.md."""
