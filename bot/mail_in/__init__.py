"""Mail in: the SMTP listener, the IMAP poller, decoding, classifying, extracting, the mail steps."""
