"""Mail in: the SMTP listener, the IMAP poller, decode, classify, extract, the mail pipeline."""
