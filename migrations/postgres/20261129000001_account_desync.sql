-- Whether the account's latest accepted commit did not chain onto the state the relay had
-- stored (its prevData/since named something else). Kept across restarts; cleared by a commit
-- that chains or by a #sync. Not a status: the account's events are still passed on.
ALTER TABLE accounts ADD COLUMN desynchronized BOOLEAN NOT NULL DEFAULT FALSE;
