"""The dispatcher console's live stream (Server-Sent Events) read from the incident timeline."""
