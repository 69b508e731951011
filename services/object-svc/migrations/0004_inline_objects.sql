-- Small objects keep their ciphertext in their row instead of a blob (up to one
-- 64 KiB segment of plaintext and its 16-byte tag): a PUT of a new key is then one
-- statement and one commit, with no file to write, fsync and rename. `blob_path`
-- still names the object's version (unique, `inline/<uuid>`); no blob is behind it,
-- so replacing or deleting such an object leaves nothing for the sweeper.
ALTER TABLE objects
    ADD COLUMN inline_ciphertext BYTEA CHECK (octet_length(inline_ciphertext) <= 65552);

-- Ciphertext does not compress: stored out of line without trying.
ALTER TABLE objects ALTER COLUMN inline_ciphertext SET STORAGE EXTERNAL;
