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
  prune        archive the oldest records into an evidence bundle, then delete them (retention)
  hold         put an account under legal hold (or --release it): prune leaves it alone

Run audit-trail <command> --help for its flags.
Exit codes: 0 ok, 1 chain broken (or bundle rejected), 2 usage error or prune refused, 3 store failure.`,

  verify: `Usage: audit-trail verify --store <spec> [flags]
       audit-trail verify --bundle <file> (--public-key <file.pem> | --signing-key-env <VAR>) [--key-env <VAR>]

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
  --accept-pruned-start      accept chains whose oldest records were deleted by hand (after prune: not needed)
  --format text|json         text (default) or the full result as JSON
  --page-size <n>            records read per query (default 1000)

A pruned chain continues from its signed prune anchor: no flag is needed after prune.

With --bundle, checks an evidence bundle on its own, with no store: every record's
hash and link, and the signature over every line. Exit 0 intact, 1 rejected.
  --bundle <file>            the bundle (from prune --archive or export --bundle)
  --public-key <file.pem>    the Ed25519 public key of a bundle signed with --private-key
  --signing-key-env <VAR>    or the HMAC key it was signed with
  --key-env <VAR>            the chain key, for a keyed chain: its hashes are then recomputed too`,

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
  --out <file>               write here instead of stdout

  --bundle <file>            instead: a signed evidence bundle of the matching records with their
                             chain links, to check with verify --bundle (no store needed)
  --private-key <file.pem>   sign it with this Ed25519 private key (check with the public key), or
  --signing-key-env <VAR>    with this HMAC key
  --key-env <VAR>            the chain key, when the store was created with chain.key`,

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

  prune: `Usage: audit-trail prune --store <spec> --before <instant> --archive <file> [flags]

Retention: writes every record created before --before (all accounts not under
legal hold, or one) into a signed evidence bundle, checks the file, stores a signed
prune anchor per account, then deletes the records in short batches beside the
app's writes. verify passes afterwards: each chain continues from its anchor.
Refused (exit 2, nothing pruned): no --archive, a --before younger than the
minimum age, an --account under legal hold.

${STORE_FLAGS}
  --before <instant>         ISO 8601 with a zone: records created before it are pruned (required)
  --archive <file>           the evidence bundle to write; never overwritten (required)
  --account <id>             only this account
  --min-age-days <n>         the minimum age (default 365): a --before later than now minus n days is refused
  --private-key <file.pem>   sign the bundle with this Ed25519 private key, or
  --signing-key-env <VAR>    with this HMAC key (one of the two is required)
  --key-env <VAR>            the chain key, when the store was created with chain.key
  --batch-size <n>           records deleted per transaction (default 1000)`,

  hold: `Usage: audit-trail hold --store <spec> --account <id> [--reason <text>] [--release]

Puts an account under legal hold, kept in the database: prune leaves its records
alone (and a prune of that account alone is refused) until the hold is released.

${STORE_FLAGS}
  --account <id>             the account (required)
  --reason <text>            why (a case number, say), kept with the hold
  --release                  release the hold instead`,
};
