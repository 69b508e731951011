-- Bucket policies (PutBucketPolicy): the document as its owner sent it, validated
-- before it is stored; NULL when the bucket has none. S3 allows 20 KB.
ALTER TABLE buckets
    ADD COLUMN policy TEXT CHECK (octet_length(policy) <= 20480);
