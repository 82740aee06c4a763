"""Advice support for nurses: decision-support documents and their search, the journal note,
and the referral catalog of care units."""
