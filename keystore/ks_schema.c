#include "ks_schema.h"

/* Value checks are written as OR chains, not IN lists: SQLite evaluates
 * "x IN ('a', 'b', 'c')" in a CHECK through a temporary b-tree built on
 * every INSERT, which cost a 90 KB allocation per row during scans. */

/*
 * Version 1: the inventory.
 *
 * files      every file a scan has looked at, keyed by path, with the
 *            (dev, ino, size, mtime) quadruple that lets a rescan skip it;
 *            state 'missing' once it vanished (never silently dropped).
 * file_links other paths (symlinks) that lead to the same file.
 * objects    one row per certificate, chain or (later) DKIM/DNSSEC key:
 *            the facts health is derived from; health itself is computed
 *            on read, from these facts and the clock.  role is leaf,
 *            intermediate or root; an idle_anchor is a root that anchors
 *            nothing in the inventory (a system trust store entry).
 * chain_elements  the certificates of a chain object after the leaf
 *            (the leaf's facts are the object's own).
 * events     append-only history; triggers refuse UPDATE and DELETE.
 * meta       small named counters (the scan generation).
 */
static const char v1[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE files ("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT NOT NULL UNIQUE,"
    "  dir TEXT NOT NULL,"
    "  dev INTEGER NOT NULL DEFAULT 0,"
    "  ino INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  mtime_ns INTEGER NOT NULL DEFAULT 0,"
    "  mode INTEGER NOT NULL DEFAULT 0,"
    "  uid INTEGER NOT NULL DEFAULT 0,"
    "  gid INTEGER NOT NULL DEFAULT 0,"
    "  content TEXT NOT NULL DEFAULT 'unknown' CHECK (content = 'unknown'"
    "    OR content = 'certs' OR content = 'keys' OR content = 'other'"
    "    OR content = 'error'),"
    "  state TEXT NOT NULL DEFAULT 'ok'"
    "    CHECK (state = 'ok' OR state = 'missing'),"
    "  error TEXT,"
    "  key_spki BLOB,"
    "  key_encrypted INTEGER NOT NULL DEFAULT 0,"
    "  linked INTEGER NOT NULL DEFAULT 0,"
    "  scan_gen INTEGER NOT NULL DEFAULT 0,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  missing_since INTEGER"
    ");"
    "CREATE INDEX files_inode ON files(dev, ino);"
    "CREATE INDEX files_dir ON files(dir, path);"
    "CREATE TABLE file_links ("
    "  path TEXT PRIMARY KEY,"
    "  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
    "  scan_gen INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "CREATE INDEX file_links_file ON file_links(file_id);"
    "CREATE TABLE objects ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL"
    "    CHECK (kind = 'tls' OR kind = 'dkim' OR kind = 'dnssec'),"
    "  name TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  file_id INTEGER REFERENCES files(id) ON DELETE SET NULL,"
    "  position INTEGER NOT NULL DEFAULT 0,"
    "  managed INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL DEFAULT 'ok'"
    "    CHECK (state = 'ok' OR state = 'missing' OR state = 'unreadable'),"
    "  error TEXT,"
    "  not_before INTEGER,"
    "  not_after INTEGER,"
    "  deadline INTEGER,"
    "  subject TEXT,"
    "  issuer TEXT,"
    "  serial TEXT,"
    "  fingerprint TEXT,"
    "  spki_hash BLOB,"
    "  key_type TEXT,"
    "  key_bits INTEGER,"
    "  is_ca INTEGER,"
    "  self_signed INTEGER,"
    "  sans TEXT NOT NULL DEFAULT '[]',"
    "  chain_len INTEGER NOT NULL DEFAULT 0,"
    "  arrangement TEXT,"
    "  weak_position INTEGER,"
    "  weak_name TEXT,"
    "  weak_not_after INTEGER,"
    "  key_state TEXT,"
    "  key_path TEXT,"
    "  key_mode INTEGER,"
    "  key_pending INTEGER NOT NULL DEFAULT 0,"
    "  names_key TEXT,"
    "  superseded_by INTEGER,"
    "  role TEXT,"
    "  top_issuer TEXT,"
    "  idle_anchor INTEGER NOT NULL DEFAULT 0,"
    "  archived INTEGER NOT NULL DEFAULT 0,"
    "  stage TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE UNIQUE INDEX objects_file ON objects(file_id, position);"
    /* The listing's covering index: `list` and `check` read the facts
     * health needs from the index alone, in deadline order, and visit a
     * row only for the rare object with a problem to describe. */
    "CREATE INDEX objects_deadline ON objects(deadline, kind,"
    "  superseded_by, idle_anchor, state, not_before, not_after,"
    "  weak_not_after, arrangement, key_state, key_mode, name);"
    "CREATE INDEX objects_name ON objects(name);"
    "CREATE INDEX objects_names_key ON objects(names_key) WHERE archived;"
    "CREATE INDEX objects_roots ON objects(id) WHERE role = 'root';"
    "CREATE INDEX objects_hidden ON objects(id)"
    "  WHERE superseded_by IS NOT NULL OR idle_anchor != 0;"
    "CREATE INDEX objects_key_pending ON objects(key_pending)"
    "  WHERE key_pending != 0;"
    "CREATE TABLE chain_elements ("
    "  object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
    "  position INTEGER NOT NULL,"
    "  subject TEXT, issuer TEXT, serial TEXT,"
    "  not_before INTEGER, not_after INTEGER,"
    "  fingerprint TEXT, key_type TEXT, key_bits INTEGER,"
    "  is_ca INTEGER, self_signed INTEGER,"
    "  sans TEXT NOT NULL DEFAULT '[]',"
    "  PRIMARY KEY (object_id, position)"
    ") WITHOUT ROWID;"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  object_id INTEGER,"
    "  type TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '{}'"
    ");"
    "CREATE INDEX events_object ON events(object_id, id);"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;";

/*
 * Version 2: what the lifecycles journal (DESIGN.md, "Data model").
 *
 * versions  every certificate or key keywarden wrote, with its directory;
 *           objects.live_version points at the one in service, so a
 *           rollback is a pointer change.
 * jobs      durable workflow state: the scheduler arms one timer for the
 *           earliest next_at; a job survives kill -9 because its step is
 *           written before the side effect and its result after.
 * outbox    hook deliveries, written in the same transaction as the event
 *           that caused them (at-least-once delivery).
 */
static const char v2[] =
    "CREATE TABLE versions ("
    "  id INTEGER PRIMARY KEY,"
    "  object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  dir TEXT NOT NULL,"
    "  fingerprint TEXT,"
    "  not_before INTEGER, not_after INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'staged'"
    "    CHECK (state = 'staged' OR state = 'live' OR state = 'retired'"
    "    OR state = 'failed'),"
    "  UNIQUE (object_id, seq)"
    ");"
    "ALTER TABLE objects ADD COLUMN live_version INTEGER"
    "  REFERENCES versions(id) ON DELETE SET NULL;"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  object_id INTEGER REFERENCES objects(id) ON DELETE CASCADE,"
    "  type TEXT NOT NULL,"
    "  step TEXT NOT NULL DEFAULT 'start',"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state = 'pending' OR state = 'running' OR state = 'done'"
    "    OR state = 'failed'),"
    "  last_error TEXT,"
    "  data TEXT NOT NULL DEFAULT '{}',"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX jobs_object ON jobs(object_id);"
    "CREATE INDEX objects_live_version ON objects(live_version)"
    "  WHERE live_version IS NOT NULL;"
    "CREATE INDEX jobs_due ON jobs(next_at)"
    "  WHERE state = 'pending' OR state = 'running';"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  event_id INTEGER NOT NULL REFERENCES events(id),"
    "  hook TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state = 'pending' OR state = 'running' OR state = 'done'"
    "    OR state = 'failed'),"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  last_error TEXT,"
    "  UNIQUE (event_id, hook)"
    ");"
    "CREATE INDEX outbox_due ON outbox(next_at)"
    "  WHERE state = 'pending' OR state = 'running';";

/*
 * Version 3: the daemon.
 *
 * jobs.key    names a recurring job ("scan", "probe:mail"), unique among
 *             the jobs not yet done, so scheduling is idempotent.
 * endpoints   what a probe of a configured or discovered TLS endpoint
 *             found; each endpoint is also an object (kind tls, source
 *             "tls://host:port"), so list and check show it.
 * usages      which daemon's configuration names a certificate or key
 *             file, with the file and line (discovery).
 */
static const char v3[] =
    "ALTER TABLE jobs ADD COLUMN key TEXT NOT NULL DEFAULT '';"
    "CREATE UNIQUE INDEX jobs_key ON jobs(type, key)"
    "  WHERE state = 'pending' OR state = 'running';"
    "CREATE TABLE endpoints ("
    "  id INTEGER PRIMARY KEY,"
    "  object_id INTEGER NOT NULL UNIQUE"
    "    REFERENCES objects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL UNIQUE,"
    "  host TEXT NOT NULL,"
    "  port INTEGER NOT NULL,"
    "  sni TEXT,"
    "  starttls TEXT NOT NULL DEFAULT 'none',"
    "  origin TEXT NOT NULL DEFAULT 'config',"
    "  probed_at INTEGER,"
    "  ok INTEGER,"
    "  error TEXT,"
    "  tls_version TEXT,"
    "  stale_of INTEGER,"
    "  name_matches INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    /* The newest certificate on disk for a served one's names. */
    "CREATE INDEX objects_names ON objects(names_key, not_after)"
    "  WHERE file_id IS NOT NULL;"
    /* Which daemon's configuration names a file, and where. */
    "CREATE TABLE usages ("
    "  path TEXT NOT NULL,"
    "  daemon TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  line INTEGER NOT NULL,"
    "  directive TEXT NOT NULL,"
    "  is_key INTEGER NOT NULL DEFAULT 0,"
    "  seen_at INTEGER NOT NULL,"
    "  PRIMARY KEY (path, daemon, config, line)"
    ") WITHOUT ROWID;";

/*
 * Version 4: managed certificates (ACME).
 *
 * certificates  one row per [certificate "NAME"] keywarden has worked on:
 *               the live version, what the last attempt did, and the
 *               order in flight (its URL and step), so an order
 *               interrupted by kill -9 resumes instead of starting over.
 *               Key material is never here: keys live in files (0600).
 */
static const char v4[] =
    "CREATE TABLE certificates ("
    "  name TEXT PRIMARY KEY,"
    "  names TEXT NOT NULL DEFAULT '[]',"
    "  live_version INTEGER NOT NULL DEFAULT 0,"
    "  not_before INTEGER,"
    "  not_after INTEGER,"
    "  fingerprint TEXT,"
    "  renew_at INTEGER,"
    "  order_url TEXT,"
    "  step TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  last_attempt_at INTEGER,"
    "  last_ok_at INTEGER,"
    "  last_error TEXT,"
    "  problem TEXT,"
    "  retry_at INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ") WITHOUT ROWID;";

/*
 * Version 5: jobs.rerun_at.  A job asked for again while it runs (a file
 * changed during a scan) remembers it, and ks_jobs_finish makes it due
 * then instead of at its next period: the change is not lost for an hour.
 */
static const char v5[] = "ALTER TABLE jobs ADD COLUMN rerun_at INTEGER;";

/*
 * Version 6: what the CA's renewal information (ARI, RFC 9773) said about
 * the live certificate: its window, the time picked in it, when to ask
 * again.
 */
static const char v6[] =
    "ALTER TABLE certificates ADD COLUMN ari_cert_id TEXT;"
    "ALTER TABLE certificates ADD COLUMN ari_offered INTEGER NOT NULL "
    "  DEFAULT 0;"
    "ALTER TABLE certificates ADD COLUMN ari_start INTEGER;"
    "ALTER TABLE certificates ADD COLUMN ari_end INTEGER;"
    "ALTER TABLE certificates ADD COLUMN ari_renew_at INTEGER;"
    "ALTER TABLE certificates ADD COLUMN ari_next_check INTEGER;"
    "ALTER TABLE certificates ADD COLUMN ari_explanation TEXT;";

/*
 * Version 7: the last HTTP-01 pre-check of a managed certificate (the
 * daemon runs it daily), so a redirect added today shows weeks before the
 * renewal it would break.
 */
static const char v7[] =
    "ALTER TABLE certificates ADD COLUMN precheck_at INTEGER;"
    "ALTER TABLE certificates ADD COLUMN precheck_ok INTEGER;"
    "ALTER TABLE certificates ADD COLUMN precheck_verdict TEXT;";

/*
 * Version 8: hooks.
 *
 * outbox     gains what a delivery needs without re-reading the event: the
 *            object it is about (name, kind, inventory id), a lease
 *            (lease_until: a claim by a process that died expires), the
 *            last run, and when it was queued and finished.
 * hook_runs  every run of a hook: the events it carried, exit status,
 *            signal, duration and bounded output (the newest 500 per hook
 *            are kept).
 * hook_stats per hook and result, the runs ever made and the last one, so
 *            the /metrics counters survive pruning and restarts.
 * objects.health_seen, expiry_notice  the health an object had when
 *            ks_watch_health last looked, and the expiry level already
 *            announced, so health.changed and cert.expiring fire once.
 * meta hook_cursor  the newest event already turned into deliveries.  It
 *            starts at the newest event there is: hooks configured today
 *            do not replay last year's history.
 */
static const char v8[] =
    "ALTER TABLE objects ADD COLUMN health_seen TEXT;"
    "ALTER TABLE objects ADD COLUMN expiry_notice INTEGER NOT NULL "
    "  DEFAULT 0;"
    "ALTER TABLE outbox ADD COLUMN object TEXT;"
    "ALTER TABLE outbox ADD COLUMN kind TEXT;"
    "ALTER TABLE outbox ADD COLUMN object_id INTEGER;"
    "ALTER TABLE outbox ADD COLUMN lease_until INTEGER;"
    "ALTER TABLE outbox ADD COLUMN last_run INTEGER;"
    "ALTER TABLE outbox ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outbox ADD COLUMN finished_at INTEGER;"
    "CREATE INDEX outbox_hook ON outbox(hook, state, next_at);"
    "CREATE INDEX outbox_failed ON outbox(hook, object) WHERE state = 'failed';"
    "CREATE TABLE hook_runs ("
    "  id INTEGER PRIMARY KEY,"
    "  hook TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL DEFAULT 1,"
    "  events TEXT NOT NULL DEFAULT '[]',"
    "  event_type TEXT,"
    "  object TEXT,"
    "  result TEXT NOT NULL CHECK (result = 'ok' OR result = 'failed'"
    "    OR result = 'timeout' OR result = 'error'),"
    "  exit_status INTEGER,"
    "  signal INTEGER,"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,"
    "  output TEXT,"
    "  last_line TEXT,"
    "  error TEXT,"
    "  test INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX hook_runs_hook ON hook_runs(hook, id);"
    "CREATE TABLE hook_stats ("
    "  hook TEXT NOT NULL,"
    "  result TEXT NOT NULL,"
    "  runs INTEGER NOT NULL DEFAULT 0,"
    "  last_at INTEGER,"
    "  PRIMARY KEY (hook, result)"
    ") WITHOUT ROWID;"
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('hook_cursor',"
    "  (SELECT COALESCE(MAX(id), 0) FROM events));";

/*
 * Version 9: drop the schema no code reads or writes, the data model's
 * first sketch: the versions table and objects.live_version (a managed
 * certificate's versions are certificates.live_version and its archive
 * directories), and jobs.step, jobs.data and jobs.object_id (a job is
 * named by its type and key; its progress lives in the record it works
 * on, certificates.step for instance).
 *
 * DROP COLUMN refuses a column with a foreign key.  objects.live_version
 * loses its REFERENCES clause by SQLite's documented edit of the stored
 * definition (a constraint removal changes nothing on disk; "RESET"
 * reloads the schema, and DROP COLUMN then checks the edit took).  jobs
 * is rebuilt by the twelve-step procedure instead; nothing references
 * it, so the rebuild is safe with foreign keys on.
 */
static const char v9[] =
    "DROP INDEX objects_live_version;"
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(sql, 'live_version INTEGER  "
    "REFERENCES versions(id) ON DELETE SET NULL', 'live_version INTEGER')"
    "  WHERE type = 'table' AND name = 'objects';"
    "PRAGMA writable_schema = RESET;"
    "ALTER TABLE objects DROP COLUMN live_version;"
    "DROP TABLE versions;"
    "CREATE TABLE jobs_new ("
    "  id INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state = 'pending' OR state = 'running' OR state = 'done'"
    "    OR state = 'failed'),"
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  key TEXT NOT NULL DEFAULT '',"
    "  rerun_at INTEGER"
    ");"
    "INSERT INTO jobs_new (id, type, attempt, next_at, state, last_error,"
    "  created_at, updated_at, key, rerun_at)"
    "  SELECT id, type, attempt, next_at, state, last_error, created_at,"
    "  updated_at, key, rerun_at FROM jobs;"
    "DROP TABLE jobs;"
    "ALTER TABLE jobs_new RENAME TO jobs;"
    "CREATE INDEX jobs_due ON jobs(next_at)"
    "  WHERE state = 'pending' OR state = 'running';"
    "CREATE UNIQUE INDEX jobs_key ON jobs(type, key)"
    "  WHERE state = 'pending' OR state = 'running';";

/*
 * Version 10: DKIM selectors (ks_dkim.h).
 *
 * dkim_keys      the facts of each object of kind 'dkim': where a signer
 *                names the key (source, line), its role, the key file's
 *                mode and owner and whether the signer's user may read it,
 *                the public key's hash and the record to publish; first
 *                seen is kept across rescans.  No private material.
 * dkim_findings  what the latest DNS check of a selector found, replaced
 *                as a whole per check (checked_at).
 */
static const char v10[] =
    "CREATE TABLE dkim_keys ("
    "  object_id INTEGER PRIMARY KEY"
    "    REFERENCES objects(id) ON DELETE CASCADE,"
    "  domain TEXT NOT NULL,"
    "  selector TEXT NOT NULL,"
    "  algorithm TEXT,"
    "  bits INTEGER NOT NULL DEFAULT 0,"
    "  key_path TEXT NOT NULL,"
    "  key_mode INTEGER NOT NULL DEFAULT -1,"
    "  key_uid INTEGER,"
    "  key_gid INTEGER,"
    "  key_time INTEGER,"
    "  role TEXT NOT NULL CHECK (role = 'signing' OR role = 'published'"
    "    OR role = 'orphan'),"
    "  signer TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  line INTEGER NOT NULL DEFAULT 0,"
    "  signer_user TEXT,"
    "  signer_reads INTEGER NOT NULL DEFAULT -1,"
    "  pub_hash TEXT,"
    "  record TEXT,"
    "  max_age INTEGER NOT NULL DEFAULT 0,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL"
    ");"
    "CREATE INDEX dkim_keys_domain ON dkim_keys(domain, selector);"
    "CREATE TABLE dkim_findings ("
    "  id INTEGER PRIMARY KEY,"
    "  object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
    "  severity TEXT NOT NULL CHECK (severity = 'ok' OR severity = 'warning'"
    "    OR severity = 'critical' OR severity = 'unknown'),"
    "  code TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  fix TEXT NOT NULL DEFAULT '',"
    "  server TEXT,"
    "  checked_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX dkim_findings_object ON dkim_findings(object_id);";

/*
 * Version 11: DKIM selector rotations (ks_dkim_rot.h).
 *
 * dkim_rotations  one row per new key of a managed [dkim "DOMAIN"]: the
 *                 selector (unique per domain, so a selector is never used
 *                 twice), the key file, the record (public), the selector
 *                 it replaces, the stage and since when, the time it waits
 *                 for and what for, and why it stopped (NULL: running).
 * dkim_rot_journal  every change of stage: the intent written before an
 *                 effect, the effect and its result, in the transaction
 *                 that changes the stage.
 */
static const char v11[] =
    "CREATE TABLE dkim_rotations ("
    "  id INTEGER PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  selector TEXT NOT NULL,"
    "  key_path TEXT NOT NULL,"
    "  key_type TEXT NOT NULL,"
    "  record TEXT,"
    "  old_selector TEXT,"
    "  old_record TEXT,"
    "  stage TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  wait_until INTEGER NOT NULL DEFAULT 0,"
    "  waits_for TEXT NOT NULL DEFAULT '',"
    "  stopped TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  UNIQUE (domain, selector)"
    ");"
    "CREATE TABLE dkim_rot_journal ("
    "  id INTEGER PRIMARY KEY,"
    "  rotation_id INTEGER NOT NULL"
    "    REFERENCES dkim_rotations(id) ON DELETE CASCADE,"
    "  at INTEGER NOT NULL,"
    "  old_stage TEXT NOT NULL,"
    "  new_stage TEXT NOT NULL,"
    "  intent TEXT NOT NULL DEFAULT '',"
    "  effect TEXT NOT NULL DEFAULT '',"
    "  result TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX dkim_rot_journal_rotation ON dkim_rot_journal(rotation_id);";

/*
 * Version 12: a rotation's failures in a row (the backoff of a stopped
 * step counts them; 0 after a change of stage) and when the key it
 * replaces was made (health: the old key's age against [dkim] max_age).
 */
static const char v12[] =
    "ALTER TABLE dkim_rotations ADD COLUMN failures INTEGER NOT NULL "
    "DEFAULT 0;"
    "ALTER TABLE dkim_rotations ADD COLUMN old_started_at INTEGER NOT NULL "
    "DEFAULT 0;";

/*
 * Version 13: DNSSEC zones and keys in the inventory (ks_dnssec.h).
 *
 * dnssec_zones     one row per zone object (kind 'dnssec', named ZONE):
 *                  its signer ('knot', 'bind', '' for a zone only
 *                  watched), the "FILE:LINE" that names it, and the
 *                  summary of the latest live check (checked_at 0: never).
 * dnssec_keys      one row per key object (named ZONE/ROLE/TAG): the
 *                  public DNSKEY and the signer's timing data (0: not
 *                  set), from which health derives the RFC 7583 stage on
 *                  read; and the dnssec.ds_needed bookkeeping.
 * dnssec_findings  what the latest live check of a zone found, replaced
 *                  as a whole per check; tag names the key (0: the zone).
 */
static const char v13[] =
    "CREATE TABLE dnssec_zones ("
    "  object_id INTEGER PRIMARY KEY"
    "    REFERENCES objects(id) ON DELETE CASCADE,"
    "  zone TEXT NOT NULL UNIQUE,"
    "  signer TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  checked_at INTEGER NOT NULL DEFAULT 0,"
    "  is_signed INTEGER NOT NULL DEFAULT 0,"
    "  has_ds INTEGER NOT NULL DEFAULT 0,"
    "  next_expiry INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE dnssec_keys ("
    "  object_id INTEGER PRIMARY KEY"
    "    REFERENCES objects(id) ON DELETE CASCADE,"
    "  zone TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role = 'KSK' OR role = 'ZSK'"
    "    OR role = 'CSK'),"
    "  tag INTEGER NOT NULL,"
    "  algorithm INTEGER NOT NULL,"
    "  bits INTEGER NOT NULL DEFAULT 0,"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  dnskey TEXT NOT NULL,"
    "  created INTEGER NOT NULL DEFAULT 0,"
    "  publish INTEGER NOT NULL DEFAULT 0,"
    "  activate INTEGER NOT NULL DEFAULT 0,"
    "  inactive INTEGER NOT NULL DEFAULT 0,"
    "  delete_at INTEGER NOT NULL DEFAULT 0,"
    "  sync_publish INTEGER NOT NULL DEFAULT 0,"
    "  sync_delete INTEGER NOT NULL DEFAULT 0,"
    "  signer TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  ds_missing_since INTEGER NOT NULL DEFAULT 0,"
    "  ds_notified_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX dnssec_keys_zone ON dnssec_keys(zone, tag);"
    "CREATE TABLE dnssec_findings ("
    "  id INTEGER PRIMARY KEY,"
    "  object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
    "  severity TEXT NOT NULL CHECK (severity = 'ok' OR severity = 'warning'"
    "    OR severity = 'critical' OR severity = 'unknown'),"
    "  code TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  fix TEXT NOT NULL DEFAULT '',"
    "  server TEXT,"
    "  record TEXT,"
    "  tag INTEGER NOT NULL DEFAULT 0,"
    "  checked_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX dnssec_findings_object ON dnssec_findings(object_id);";

/*
 * Version 14: a dedicated DKIM zone's slots reuse a selector, so UNIQUE (domain, selector) gives way to a
 * partial unique index over the rotations still running: those not
 * finished (removed, revoked, aborted, or a first rotation retired,
 * which replaced no managed key), as dkim_rotate.c's rot_finished()
 * says.  SQLite cannot drop a table constraint, so the table is rebuilt;
 * the journal is rebuilt first onto the new table, so dropping the old
 * one cascades into nothing, and RENAME carries the journal's foreign
 * key over to the final name.  Without zone = the rotation code still
 * refuses a selector used before.
 */
static const char v14[] =
    "CREATE TABLE dkim_rotations_v14 ("
    "  id INTEGER PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  selector TEXT NOT NULL,"
    "  key_path TEXT NOT NULL,"
    "  key_type TEXT NOT NULL,"
    "  record TEXT,"
    "  old_selector TEXT,"
    "  old_record TEXT,"
    "  stage TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  wait_until INTEGER NOT NULL DEFAULT 0,"
    "  waits_for TEXT NOT NULL DEFAULT '',"
    "  stopped TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  old_started_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "INSERT INTO dkim_rotations_v14 (id, domain, selector, key_path, "
    "  key_type, record, old_selector, old_record, stage, since, "
    "  wait_until, waits_for, stopped, started_at, failures, "
    "  old_started_at) "
    "SELECT id, domain, selector, key_path, key_type, record, old_selector, "
    "  old_record, stage, since, wait_until, waits_for, stopped, "
    "  started_at, failures, old_started_at FROM dkim_rotations;"
    "CREATE TABLE dkim_rot_journal_v14 ("
    "  id INTEGER PRIMARY KEY,"
    "  rotation_id INTEGER NOT NULL"
    "    REFERENCES dkim_rotations_v14(id) ON DELETE CASCADE,"
    "  at INTEGER NOT NULL,"
    "  old_stage TEXT NOT NULL,"
    "  new_stage TEXT NOT NULL,"
    "  intent TEXT NOT NULL DEFAULT '',"
    "  effect TEXT NOT NULL DEFAULT '',"
    "  result TEXT NOT NULL DEFAULT ''"
    ");"
    "INSERT INTO dkim_rot_journal_v14 SELECT id, rotation_id, at, "
    "  old_stage, new_stage, intent, effect, result FROM dkim_rot_journal;"
    "DROP TABLE dkim_rot_journal;"
    "DROP TABLE dkim_rotations;"
    "ALTER TABLE dkim_rotations_v14 RENAME TO dkim_rotations;"
    "ALTER TABLE dkim_rot_journal_v14 RENAME TO dkim_rot_journal;"
    "CREATE INDEX dkim_rot_journal_rotation ON dkim_rot_journal(rotation_id);"
    "CREATE UNIQUE INDEX dkim_rotations_running_selector ON "
    "  dkim_rotations(domain, selector) WHERE NOT (stage IN ('removed', "
    "  'revoked', 'aborted') OR (stage = 'retired' AND old_selector IS "
    "  NULL));";

/*
 * Version 15: MTA-STS (keystore/ks_mtasts.h).
 *
 * mtasts_seen  per mail domain, the `_mta-sts` id and the SHA-256 of the
 *              policy body first seen under it, and when: a body that
 *              changes under the same id is a policy senders keep.
 */
static const char v15[] =
    "CREATE TABLE mtasts_seen ("
    "  domain TEXT PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  policy_sha256 TEXT NOT NULL,"
    "  seen_at INTEGER NOT NULL"
    ");";

/*
 * Version 16: live checks of objects (keystore/ks_check.h): the DANE
 * check of SMTP endpoints, and mail domains as objects of kind 'mta-sts'
 * whose findings the MTA-STS check writes.
 *
 * checks          per object and checker ("dane"), when it last ran and the
 *                 health it found (the health.changed bookkeeping).
 * check_findings  what that run found, replaced as a whole per run.
 *
 * One pair of tables keyed by object and checker rather than a table per
 * checker as dkim_findings and dnssec_findings are: a DANE finding, an
 * MTA-STS one and the next check's have the same shape, and an endpoint
 * already has its own facts table, so a third findings table would only
 * repeat the second.  objects.kind accepts 'mta-sts' by SQLite's
 * documented edit of the stored definition (a CHECK that only widens
 * changes nothing on disk; "RESET" reloads the schema), as version 9
 * edits it: a rebuild of objects would need foreign keys off, which a
 * migration's transaction cannot switch.
 */
static const char v16[] =
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(sql, 'OR kind = ''dnssec'')', "
    "  'OR kind = ''dnssec'' OR kind = ''mta-sts'')')"
    "  WHERE type = 'table' AND name = 'objects';"
    "PRAGMA writable_schema = RESET;"
    "CREATE TABLE checks ("
    "  object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
    "  checker TEXT NOT NULL,"
    "  checked_at INTEGER NOT NULL,"
    "  health TEXT NOT NULL,"
    "  PRIMARY KEY (object_id, checker)"
    ");"
    "CREATE TABLE check_findings ("
    "  id INTEGER PRIMARY KEY,"
    "  object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
    "  checker TEXT NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  code TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  fix TEXT NOT NULL DEFAULT '',"
    "  record TEXT,"
    "  checked_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX check_findings_object ON check_findings(object_id);";

/* DANE key rollovers (dane/dane_roll.h): one row per pre-announced
 * next key of a [certificate] with dane =, and its journal. */
static const char v17[] =
    "CREATE TABLE dane_rollovers ("
    "  id INTEGER PRIMARY KEY,"
    "  cert TEXT NOT NULL,"
    "  key_path TEXT NOT NULL,"
    "  tlsa TEXT NOT NULL DEFAULT '',"
    "  old_tlsa TEXT NOT NULL DEFAULT '',"
    "  names TEXT NOT NULL,"
    "  stage TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  wait_until INTEGER NOT NULL DEFAULT 0,"
    "  waits_for TEXT NOT NULL DEFAULT '',"
    "  stopped TEXT NOT NULL DEFAULT '',"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  released INTEGER NOT NULL DEFAULT 0,"
    "  started_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX dane_rollovers_cert ON dane_rollovers(cert, id);"
    "CREATE TABLE dane_roll_journal ("
    "  rollover_id INTEGER NOT NULL REFERENCES dane_rollovers(id)"
    "    ON DELETE CASCADE,"
    "  at INTEGER NOT NULL,"
    "  old_stage TEXT NOT NULL,"
    "  new_stage TEXT NOT NULL,"
    "  note TEXT NOT NULL DEFAULT ''"
    ");";

const char *const ks_migrations[] = {v1, v2, v3, v4, v5, v6, v7, v8,
                                     v9, v10, v11, v12, v13, v14, v15, v16,
                                     v17};

const char ks_listing_index_sql[] =
    "CREATE INDEX IF NOT EXISTS objects_deadline ON objects(deadline, kind,"
    "  superseded_by, idle_anchor, state, not_before, not_after,"
    "  weak_not_after, arrangement, key_state, key_mode, name);";
const int ks_migration_count = sizeof(ks_migrations) / sizeof(ks_migrations[0]);
