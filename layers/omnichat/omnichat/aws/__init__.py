"""Small AWS clients for the hot paths of cold-started functions (boto3 stays for the rest)."""
