-- atrelay relay state, SQLite flavour. Keep in step with migrations/postgres/.
-- Times are Unix milliseconds (BIGINT) in both backends, so the two schemas read alike.

-- Upstream PDS hosts the relay follows.
CREATE TABLE hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Lower-case hostname; a port only for localhost.
    hostname TEXT NOT NULL UNIQUE,
    -- Dialled with ws:// instead of wss:// (development hosts only).
    no_ssl BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'idle', 'offline', 'throttled', 'banned')),
    -- Trusted hosts get the large default limits.
    trusted BOOLEAN NOT NULL DEFAULT FALSE,
    -- Last upstream seq whose event is durable in the event log; NULL until the first one.
    last_seq BIGINT,
    -- Per-host limits; NULL means "the relay's computed default".
    events_per_second BIGINT,
    events_per_hour BIGINT,
    events_per_day BIGINT,
    crawl_rate REAL,
    account_limit BIGINT NOT NULL,
    -- Maintained by the batched account writes.
    account_count BIGINT NOT NULL DEFAULT 0,
    last_connected_at BIGINT,
    last_error_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX hosts_status_idx ON hosts (status, id);

-- Accounts (repositories) seen on any host.
CREATE TABLE accounts (
    -- SQLite compares TEXT bytewise, the order DID paging relies on.
    did TEXT PRIMARY KEY,
    host_id BIGINT NOT NULL REFERENCES hosts (id),
    -- Status as last reported by the host (#account events).
    upstream_status TEXT NOT NULL DEFAULT 'active'
        CHECK (upstream_status IN ('active', 'takendown', 'suspended', 'deleted', 'deactivated', 'desynchronized', 'throttled')),
    -- The relay's own status (takedowns, throttles) and why it was set.
    local_status TEXT NOT NULL DEFAULT 'active'
        CHECK (local_status IN ('active', 'takendown', 'suspended', 'deleted', 'deactivated', 'desynchronized', 'throttled')),
    local_reason TEXT,
    -- Latest verified commit: rev (TID), commit CID, MST root CID (the next prevData).
    rev TEXT,
    commit_cid TEXT,
    data_cid TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE INDEX accounts_host_idx ON accounts (host_id, did);
CREATE INDEX accounts_local_status_idx ON accounts (local_status, did);

-- Banned domains: a host is banned when it equals a row or is a subdomain of one.
CREATE TABLE domain_bans (
    domain TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;

-- Runtime settings indigo keeps only in memory (new hosts per day, requestCrawl switch, ...).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;

-- hosts.account_count follows the accounts table.
CREATE TRIGGER accounts_count_insert AFTER INSERT ON accounts
BEGIN
    UPDATE hosts SET account_count = account_count + 1 WHERE id = NEW.host_id;
END;

CREATE TRIGGER accounts_count_move AFTER UPDATE OF host_id ON accounts
WHEN OLD.host_id <> NEW.host_id
BEGIN
    UPDATE hosts SET account_count = account_count - 1 WHERE id = OLD.host_id;
    UPDATE hosts SET account_count = account_count + 1 WHERE id = NEW.host_id;
END;

CREATE TRIGGER accounts_count_delete AFTER DELETE ON accounts
BEGIN
    UPDATE hosts SET account_count = account_count - 1 WHERE id = OLD.host_id;
END;
