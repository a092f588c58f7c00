/** A mistake in how the CLI was called: exit code 2, and the message names the flag. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes, stable for scripts. */
export const EXIT = Object.freeze({
  /** Done; for `verify`: every chain intact. */
  ok: 0,
  /** `verify` found a break (named on stdout). */
  broken: 1,
  /** Bad flags or input files: nothing was checked. */
  usage: 2,
  /** The store failed (unreachable, unreadable). */
  failed: 3,
});

const STORE_FLAGS = `  --store <spec>             sqlite:<file> or postgres://user:pass@host/db (required)
  --schema <name>            PostgreSQL schema of the audit table (default public)
  --table <name>             PostgreSQL audit table (default audit_records)`;

const FILTER_FLAGS = `  --account <id>             the account (required)
  --action-type <type>       one or more action types: repeat the flag or separate with commas
  --resource <kind>          --resource-id <id>
  --user-id <id>             --user-email <email>
  --app-id <id>              --outcome success|failure
  --from <instant>           ISO 8601 with a zone, inclusive; --to <instant> exclusive
  --order desc|asc
  --catalog <file.json>      your app's action catalog ({ "action_type": "resource", … });
                             default: the PaymentsOS catalog`;

export const HELP: Record<string, string> = {
  main: `audit-trail: check and read an audit trail stored by @audit-trail/sqlite or @audit-trail/postgres

Usage: audit-trail <command> [flags]      (from the repository: pnpm audit-trail <command> …)

Commands:
  verify       check every hash chain; exit 0 when intact, 1 naming the first break
  query        one page of an account's records, filtered like GET /audit
  export       every matching record of an account, as NDJSON or CSV, streamed
  checkpoint   write a signed checkpoint of the chain heads, to verify against later

Run audit-trail <command> --help for its flags.
Exit codes: 0 ok, 1 chain broken, 2 usage error, 3 store failure.`,

  verify: `Usage: audit-trail verify --store <spec> [flags]

Walks the hash chain of every account (or one), recomputing each hash, and names
the first break: account, position, record id and kind (modified, deleted,
inserted, reordered, truncated). Exit 0 when intact, 1 on a break.

${STORE_FLAGS}
  --account <id>             verify this account's chain only
  --key-env <VAR>            environment variable holding the chain key (stores created with chain.key)
  --checkpoint <file>        a checkpoint file: the chain must still hold every head it names
  --signing-key-env <VAR>    environment variable holding the checkpoint's signing key (default: --key-env's)
  --accept-unchained-before <instant>
                             accept records without a link created before this instant (stored before the upgrade)
  --accept-pruned-start      accept chains whose oldest records retention deleted
  --format text|json         text (default) or the full result as JSON
  --page-size <n>            records read per query (default 1000)`,

  query: `Usage: audit-trail query --store <spec> --account <id> [filters]

One page of an account's records, newest first, filtered exactly like the
GET /audit endpoint. A table on a terminal; JSON lines otherwise or with --format json.

${STORE_FLAGS}
${FILTER_FLAGS}
  --limit <n>                1–500, default 50
  --format table|json        default: table on a terminal, json when piped`,

  export: `Usage: audit-trail export --store <spec> --account <id> [filters] [--format ndjson|csv] [--out <file>]

Every matching record of an account, oldest first unless --order desc, read page
by page (keyset paging: constant memory, any size). A progress bar shows on
stderr when it is a terminal.

${STORE_FLAGS}
${FILTER_FLAGS}
  --format ndjson|csv        default ndjson; CSV quotes as RFC 4180 and defuses formulas (=, +, -, @)
  --out <file>               write here instead of stdout`,

  checkpoint: `Usage: audit-trail checkpoint --store <spec> --signing-key-env <VAR> [--out <file>]

Verifies the chains, then writes a signed checkpoint of their heads (JSON). Keep it
outside the database; verify --checkpoint <file> later proves that no record up to
these heads was deleted or rewritten since.

${STORE_FLAGS}
  --account <id>             only this account's chain
  --key-env <VAR>            environment variable holding the chain key (stores created with chain.key)
  --signing-key-env <VAR>    environment variable holding the signing key (default: --key-env's);
                             one of the two is required
  --accept-unchained-before <instant>, --accept-pruned-start   as for verify
  --out <file>               write here instead of stdout`,
};
