"""Who may do what: bearer tokens, their issuers' signing keys, and the role each method needs."""
