"""The PS3.18 web protocol: multipart bodies, media types, negotiation, query parameters, URLs."""
