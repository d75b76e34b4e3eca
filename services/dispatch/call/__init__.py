"""Calls on the 12349 line: the telephony system's call events, matched to an elder and an incident."""
