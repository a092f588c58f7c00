import { AuditError } from '@audit-trail/core';
import { GENESIS_HASH } from '@audit-trail/core/store';
import { inTransaction, type PostgresPool } from './client.ts';

/** Quoted, schema-qualified names of the objects one store owns. */
export interface TableNames {
  /** The schema name, unquoted (for catalog lookups). */
  schema: string;
  /** The audit table name, unquoted (the key of its migration history). */
  table: string;
  /** `"schema"."table"`. */
  qualifiedTable: string;
  /** `"schema"."audit_trail_migrations"`. */
  qualifiedMigrations: string;
  /** Quotes an index name derived from the table name, e.g. `"audit_records_user_idx"`. */
  index(suffix: string): string;
  /** `"schema"."<table>_chain_heads"`: the head of each account's hash chain. */
  qualifiedHeads: string;
  /** `"schema"."<table>_append_chained"`: the chained append in one statement (migration 4). */
  qualifiedAppend: string;
}

/** One step of the schema's history. Versions are consecutive from 1 and never change once released. */
export interface Migration {
  version: number;
  description: string;
  /** DDL statements, run in order in one transaction. */
  statements(names: TableNames): string[];
}

/** The name of the history table, one per schema, shared by every audit table in it. */
export const MIGRATIONS_TABLE = 'audit_trail_migrations';

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    description: 'audit table with keyset indexes',
    statements: ({ qualifiedTable: t, index }) => [
      // The columns that are compared in index order use the "C" collation:
      // byte order is the order core compares ids in, and cheaper than a locale's.
      `CREATE TABLE ${t} (
        id text COLLATE "C" PRIMARY KEY,
        account_id text COLLATE "C",
        created timestamptz NOT NULL,
        action_type text COLLATE "C" NOT NULL,
        resource text NOT NULL,
        resource_id text COLLATE "C",
        user_id text COLLATE "C" NOT NULL,
        user_email text,
        app_id text,
        outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
        status_code integer,
        request jsonb NOT NULL,
        trace_id text,
        span_id text,
        details jsonb NOT NULL,
        chain_seq bigint,
        prev_hash text,
        hash text
      )`,
      `COMMENT ON TABLE ${t} IS 'audit records of @audit-trail/postgres; chain_seq, prev_hash and hash are reserved for a per-account hash chain'`,
      `CREATE INDEX ${index('account_idx')} ON ${t} (account_id, created, id)`,
      `CREATE INDEX ${index('action_idx')} ON ${t} (account_id, action_type, created, id)`,
      `CREATE INDEX ${index('user_idx')} ON ${t} (account_id, user_id, created, id)`,
      `CREATE INDEX ${index('resource_idx')} ON ${t} (account_id, resource_id, created, id)`,
    ],
  },
  {
    version: 2,
    description: 'hash chain: unique (account_id, chain_seq) and a chain heads table',
    statements: ({ qualifiedTable: t, qualifiedHeads: h, index }) => [
      // Belt and braces: appends are serialised per account on the heads' row
      // locks; these make a second record at one position impossible anyway.
      // IF NOT EXISTS: on a large table, build them beforehand CONCURRENTLY (README).
      `CREATE UNIQUE INDEX IF NOT EXISTS ${index('chain_idx')} ON ${t} (account_id, chain_seq)`,
      `CREATE UNIQUE INDEX IF NOT EXISTS ${index('chain_null')} ON ${t} (chain_seq) WHERE account_id IS NULL`,
      `COMMENT ON TABLE ${t} IS 'audit records of @audit-trail/postgres; chain_seq, prev_hash and hash link each account''s records in a hash chain'`,
      `CREATE TABLE ${h} (
        account_id text COLLATE "C",
        seq bigint NOT NULL,
        hash text NOT NULL
      )`,
      `COMMENT ON TABLE ${h} IS 'the newest link of each account''s audit hash chain (account_id NULL: records without an account); appends lock these rows'`,
      // NULL is one account here: at most one row for it.
      `CREATE UNIQUE INDEX ${index('heads_idx')} ON ${h} (account_id)`,
      `CREATE UNIQUE INDEX ${index('heads_null')} ON ${h} ((account_id IS NULL)) WHERE account_id IS NULL`,
    ],
  },
  {
    version: 3,
    description: 'changes: what an action changed, jsonb or NULL when not recorded',
    // A nullable column without a default: no table rewrite, and existing rows read as NULL
    // (their records had no changes, and their chain documents none either).
    statements: ({ qualifiedTable: t }) => [`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS changes jsonb`],
  },
  {
    version: 4,
    description: 'chained append in one round trip: a function that checks the expected heads, inserts and moves them',
    statements: (names) => [appendFunction(names)],
  },
  {
    version: 5,
    description: 'retention: prune anchors and legal holds',
    statements: (names) => {
      const { anchors, holds } = retentionTables(names);
      return [
        `CREATE TABLE IF NOT EXISTS ${anchors} (
          account_id text COLLATE "C",
          first_seq bigint NOT NULL,
          seq bigint NOT NULL,
          hash text NOT NULL,
          count bigint NOT NULL,
          before timestamptz NOT NULL,
          created timestamptz NOT NULL,
          bundle_digest text NOT NULL,
          signature text NOT NULL
        )`,
        `COMMENT ON TABLE ${anchors} IS 'one row per account and prune of the audit table: its chain continues after seq, whose hash was hash'`,
        `CREATE INDEX IF NOT EXISTS ${names.index('prune_anchors_idx')} ON ${anchors} (account_id, seq)`,
        `CREATE TABLE IF NOT EXISTS ${holds} (
          account_id text COLLATE "C" NOT NULL,
          reason text,
          held_at timestamptz NOT NULL,
          released_at timestamptz
        )`,
        `COMMENT ON TABLE ${holds} IS 'legal holds on accounts of the audit table: no record of an account under an active hold (released_at NULL) is pruned'`,
        `CREATE UNIQUE INDEX IF NOT EXISTS ${names.index('legal_holds_active')} ON ${holds} (account_id) WHERE released_at IS NULL`,
      ];
    },
  },
]);

/** The retention tables of one audit table (migration 5), quoted and schema-qualified. */
export function retentionTables(names: TableNames): { anchors: string; holds: string } {
  return {
    anchors: `${quoteIdentifier(names.schema)}.${quoteIdentifier(`${names.table}_prune_anchors`)}`,
    holds: `${quoteIdentifier(names.schema)}.${quoteIdentifier(`${names.table}_legal_holds`)}`,
  };
}

/**
 * The chained append as one statement. The client links the records (the
 * hash key never leaves the app) after the heads it expects; the function
 * takes the heads' row locks in the one fixed order every writer uses (the
 * NULL account first, then by bytes), and inserts the rows and moves the heads
 * only if each account's head is still the expected one and no id of the
 * batch is stored yet. Otherwise it changes nothing and returns the current
 * heads and the ids already stored, and the client links again from those. A
 * head at 0 continues from the account's newest stored link (a head row
 * deleted by hand), as the multi-statement append does.
 *
 * Arguments: the accounts of the batch (NULL for none) with the expected and
 * the new head of each, then one array per column of the rows.
 * Returns NULL once the rows are stored, else
 * `{"heads": [[account, seq, hash], …], "stored": [id, …]}`.
 */
function appendFunction({ qualifiedTable: t, qualifiedHeads: h, qualifiedAppend: f }: TableNames): string {
  // Parameters are prefixed with p_ so that none can be mistaken for a column.
  return `CREATE OR REPLACE FUNCTION ${f}(
      p_accounts text[], p_expected_seq bigint[], p_expected_hash text[], p_new_seq bigint[], p_new_hash text[],
      p_id text[], p_account_id text[], p_created timestamptz[], p_action_type text[], p_resource text[], p_resource_id text[],
      p_user_id text[], p_user_email text[], p_app_id text[], p_outcome text[], p_status_code integer[], p_request jsonb[],
      p_trace_id text[], p_span_id text[], p_details jsonb[], p_changes jsonb[], p_chain_seq bigint[], p_prev_hash text[], p_hash text[]
    ) RETURNS jsonb LANGUAGE plpgsql AS $fn$
    DECLARE
      v_mismatch boolean;
      v_heads jsonb;
      v_stored jsonb;
    BEGIN
      INSERT INTO ${h} (account_id, seq, hash) SELECT a, 0, '${GENESIS_HASH}' FROM unnest(p_accounts) AS a ON CONFLICT DO NOTHING;
      PERFORM 1 FROM ${h} WHERE account_id IS NULL AND array_position(p_accounts, NULL) IS NOT NULL FOR UPDATE;
      PERFORM 1 FROM ${h} WHERE account_id = ANY(p_accounts) ORDER BY account_id COLLATE "C" FOR UPDATE;
      SELECT bool_or(e.seq IS DISTINCT FROM coalesce(n.chain_seq, cur.seq) OR e.hash IS DISTINCT FROM coalesce(n.hash, cur.hash)),
             jsonb_agg(jsonb_build_array(e.a, coalesce(n.chain_seq, cur.seq), coalesce(n.hash, cur.hash)))
        INTO v_mismatch, v_heads
        FROM unnest(p_accounts, p_expected_seq, p_expected_hash) AS e(a, seq, hash)
        CROSS JOIN LATERAL (
          SELECT x.seq, x.hash FROM ${h} AS x WHERE x.account_id = e.a
          UNION ALL
          SELECT x.seq, x.hash FROM ${h} AS x WHERE x.account_id IS NULL AND e.a IS NULL
        ) AS cur
        LEFT JOIN LATERAL (
          (SELECT l.chain_seq, l.hash FROM ${t} AS l
            WHERE cur.seq = 0 AND l.account_id = e.a AND l.chain_seq IS NOT NULL ORDER BY l.chain_seq DESC LIMIT 1)
          UNION ALL
          (SELECT l.chain_seq, l.hash FROM ${t} AS l
            WHERE cur.seq = 0 AND e.a IS NULL AND l.account_id IS NULL AND l.chain_seq IS NOT NULL ORDER BY l.chain_seq DESC LIMIT 1)
        ) AS n ON true;
      SELECT jsonb_agg(x.id) INTO v_stored FROM ${t} AS x WHERE x.id = ANY(p_id);
      IF v_mismatch OR v_stored IS NOT NULL THEN
        RETURN jsonb_build_object('heads', v_heads, 'stored', coalesce(v_stored, '[]'::jsonb));
      END IF;
      INSERT INTO ${t} (id, account_id, created, action_type, resource, resource_id, user_id, user_email, app_id, outcome,
          status_code, request, trace_id, span_id, details, changes, chain_seq, prev_hash, hash)
        SELECT * FROM unnest(p_id, p_account_id, p_created, p_action_type, p_resource, p_resource_id, p_user_id, p_user_email,
          p_app_id, p_outcome, p_status_code, p_request, p_trace_id, p_span_id, p_details, p_changes, p_chain_seq, p_prev_hash, p_hash);
      UPDATE ${h} AS x SET seq = v.seq, hash = v.hash FROM unnest(p_accounts, p_new_seq, p_new_hash) AS v(a, seq, hash)
        WHERE x.account_id = v.a;
      UPDATE ${h} AS x SET seq = v.seq, hash = v.hash FROM unnest(p_accounts, p_new_seq, p_new_hash) AS v(a, seq, hash)
        WHERE x.account_id IS NULL AND v.a IS NULL;
      RETURN NULL;
    END
    $fn$`;
}

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the table up to {@link SCHEMA_VERSION}. Safe to run from many
 * processes at once: the work happens in one transaction under a
 * transaction-scoped advisory lock per schema, so exactly one process applies
 * each migration and the others wait, then find nothing left to do. Refuses a
 * schema newer than this code.
 */
export async function migrate(pool: PostgresPool, names: TableNames): Promise<void> {
  const latest = SCHEMA_VERSION;
  // Fast path without a lock or DDL: an up-to-date table needs no privileges beyond reading the history.
  const applied = await appliedVersion(pool, names);
  if (applied === latest) return;
  refuseNewer(applied, latest, names);

  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`audit-trail:${names.schema}`]);
    // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists.
    const { rows } = await client.query('SELECT to_regnamespace($1) IS NOT NULL AS exists', [quoteIdentifier(names.schema)]);
    if (!(rows[0] as { exists: boolean }).exists) await client.query(`CREATE SCHEMA ${quoteIdentifier(names.schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${names.qualifiedMigrations} (
        table_name text NOT NULL,
        version integer NOT NULL,
        description text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (table_name, version)
      )`,
    );
    const current = await appliedVersion(client, names);
    refuseNewer(current, latest, names);
    for (const migration of MIGRATIONS.slice(current)) {
      for (const statement of migration.statements(names)) await client.query(statement);
      await client.query(`INSERT INTO ${names.qualifiedMigrations} (table_name, version, description) VALUES ($1, $2, $3)`, [
        names.table,
        migration.version,
        migration.description,
      ]);
    }
  });
}

/** The highest applied version of the table, 0 when none. */
async function appliedVersion(db: Pick<PostgresPool, 'query'>, names: TableNames): Promise<number> {
  const { rows } = await db.query('SELECT to_regclass($1) IS NOT NULL AS exists', [names.qualifiedMigrations]);
  if (!(rows[0] as { exists: boolean }).exists) return 0;
  const history = await db.query(`SELECT coalesce(max(version), 0) AS version FROM ${names.qualifiedMigrations} WHERE table_name = $1`, [
    names.table,
  ]);
  return Number((history.rows[0] as { version: number | string }).version);
}

function refuseNewer(applied: number, latest: number, names: TableNames): void {
  if (applied > latest) {
    throw new AuditError(
      'store_failed',
      `postgresStore: ${names.qualifiedTable} is at schema version ${applied}, newer than the ${latest} this version of @audit-trail/postgres knows; upgrade the package`,
    );
  }
}

/** Double-quotes an identifier for SQL. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The names of the objects of one audit table. */
export function tableNames(schema: string, table: string): TableNames {
  const inSchema = (name: string) => `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
  return Object.freeze({
    schema,
    table,
    qualifiedTable: inSchema(table),
    qualifiedMigrations: inSchema(MIGRATIONS_TABLE),
    index: (suffix: string) => quoteIdentifier(`${table}_${suffix}`),
    qualifiedHeads: inSchema(`${table}_chain_heads`),
    qualifiedAppend: inSchema(`${table}_append_chained`),
  });
}
