//! The command tree of the `engram` binary, declared with clap's derive API.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Store and query the long-term memories of AI agents, on SQLite or PostgreSQL";

const LONG_ABOUT: &str = "\
Store and query the long-term memories of AI agents, on SQLite or PostgreSQL.

The database is named by a DSN: --database-url, else the environment variable
ENGRAM_DATABASE_URL, else DATABASE_URL, else sqlite://engram.db (a file in the working
directory). postgres://user:pass@host:5432/db selects PostgreSQL; sqlite://relative.db,
sqlite:///absolute.db and sqlite::memory: select SQLite. Passwords are never printed.

Exit status: 0 on success, 1 when the command failed (bad input, not found, migration
refusal, connection failure; one line on stderr says what was wrong), 2 on a usage error.
Logs go to stderr (filter with RUST_LOG, default: info for engram, warn for the rest);
stdout carries only the command's output.";

const EXAMPLES: &str = "\
Examples:
  engram demo                                    # a SQLite file with example memories
  engram init-db                                 # create or upgrade the schema
  engram put --user alice --metadata '{\"topic\":\"food\",\"tags\":[\"tea\"]}' --content 'prefers green tea'
  engram query --user alice --where '{\"tags\":[\"tea\"]}' --format jsonl
  engram query --user alice --near '[1, 0, 0, 0]' --k 3      # nearest by cosine distance
  engram --database-url postgres://engram@localhost/engram migrate status
  engram export --user alice > alice.jsonl && engram import alice.jsonl";

/// `engram`: the command line of the engram memory store.
#[derive(Debug, Parser)]
#[command(
    name = "engram",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    /// Database URL (postgres://user:pass@host/db, sqlite://path.db, sqlite::memory:).
    /// Default: $ENGRAM_DATABASE_URL, else $DATABASE_URL, else sqlite://engram.db.
    #[arg(long, global = true, value_name = "DSN", value_parser = non_blank)]
    pub database_url: Option<String>,

    /// Who is writing (an agent's or a person's name, 1 to 128 characters): recorded in
    /// the history event of every change this command makes. Default: $ENGRAM_ACTOR, else
    /// none.
    #[arg(long, global = true, value_name = "NAME", env = "ENGRAM_ACTOR")]
    pub actor: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A `--database-url` must name a database: an empty one is a usage error, not the default.
fn non_blank(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("the DSN is empty (leave --database-url out to use the default)".to_string())
    } else {
        Ok(value.to_string())
    }
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store a few example memories and query them (try this first).
    ///
    /// Creates (or opens) the database, applies the migrations, stores six example memories
    /// with small hand-made embeddings (four axes: food, travel, work, health), and runs a
    /// metadata-containment query and a similarity query. Safe to run again: the examples
    /// have fixed ids and are stored once (examples stored by an engram without vectors get
    /// their embeddings). Where vectors are not available (PostgreSQL without pgvector) the
    /// examples are stored without embeddings and the similarity query is skipped.
    Demo,

    /// Apply every pending migration (the same as `engram migrate up`).
    InitDb,

    /// Apply, revert, inspect and repair schema migrations.
    #[command(subcommand)]
    Migrate(MigrateCommand),

    /// Store one memory and print its id.
    ///
    /// The content comes from --content, or from standard input when --content is not
    /// given (one trailing newline is dropped).
    ///
    /// Exit status 1 after the memory was written is possible (the id could not be printed,
    /// say to a full disk): to retry without storing it twice, give the memory an id with
    /// --id, and run the same command again.
    #[command(
        after_help = "Examples:\n  echo 'prefers green tea' | engram put --user alice --tier long_term --metadata '{\"topic\":\"food\"}'\n  engram put --user alice --content 'likes Thai food' --embedding '[0.9, 0.3, 0, 0]'"
    )]
    Put(PutArgs),

    /// Print one memory, by id.
    ///
    /// Its embedding is left out unless --with-embedding is given: the table then shows
    /// its dimensions and first components, JSON the whole array.
    Get(GetArgs),

    /// Delete one memory, by id.
    Delete(DeleteArgs),

    /// Count memories per tier and per user.
    Stats(StatsArgs),

    /// List how a memory changed, oldest first, or prune old history.
    ///
    /// Every change appends an event: insert (every field), update (each changed field
    /// before and after), delete, expire (deleted by a sweep), move and trim (by a policy),
    /// retention (deleted by a policy); each with its time and actor. Events outlive the
    /// memory. --prune-before deletes the events older than a time instead.
    #[command(
        after_help = "Examples:\n  engram history 0190a0b4-6b4e-7c3a-9d2e-2f5b8c1d4e6f --format json\n  engram history --prune-before 2026-01-01T00:00:00Z"
    )]
    History(HistoryArgs),

    /// Find memories by user, thread, tier, time, metadata containment and more.
    ///
    /// Every given filter must match. --where tests metadata containment with PostgreSQL
    /// `jsonb @>` semantics on both backends. Results are ordered (default: most recently
    /// updated first, ties by id) and paged with --limit/--offset. --format ids and jsonl
    /// write rows as they are read, a thousand at a time, so memory stays flat; rows written
    /// by others while the command runs may or may not be included.
    ///
    /// --near VECTOR ranks instead: the --k memories (default 10) whose embeddings are
    /// nearest to VECTOR by --metric (default cosine), among those matching the filters,
    /// nearest first, ties by id; memories without an embedding never come back. --offset
    /// skips the nearest first (a next page: --offset 10 --k 10). The search is exact unless
    /// --approximate lets a PostgreSQL index made by `engram vectors create-index` answer.
    /// The table gets a distance column; each JSON object is the memory with a `distance`
    /// field added (null where the distance is not a number: the cosine distance of a
    /// zero vector); ids come in rank order.
    #[command(
        after_help = "Examples:\n  engram query --user alice --tier short_term --tier mid_term --limit 20\n  engram query --where '{\"topic\":\"food\",\"tags\":[\"tea\"]}' --format ids\n  engram query --user alice --count\n  engram query --user alice --near '[1, 0, 0, 0]' --k 3 --format jsonl\n  engram query --near '[0.1, 0.9, 0, 0]' --metric l2 --k 5 --offset 5"
    )]
    Query(QueryArgs),

    /// Import memories from JSON Lines (as `engram export` writes them).
    ///
    /// One memory per line, `-` reads standard input; `user_id` and `content` are required,
    /// the other fields default as in `put`. `embedding`, when present, is a JSON array of
    /// numbers (every embedding in a store has the same dimensions; a line whose embedding
    /// has others fails, naming the line). Given ids and timestamps are kept; ids already
    /// stored are skipped, so importing the same file twice adds nothing (lines without an
    /// id get a new one each time). Each
    /// batch is one transaction: a bad line fails the command, naming the line, and nothing
    /// of its batch is written. Prints how many memories were read, inserted and skipped.
    ///
    /// Timestamps are RFC 3339 strings (a bare number is refused: its unit would be a
    /// guess). A line may hold at most 64 MiB; a UTF-8 byte order mark at the start of the
    /// file is skipped.
    Import(ImportArgs),

    /// Export memories as JSON Lines (every field, least recently updated first).
    ///
    /// Every field includes the embedding: a memory that has one carries `embedding`, a
    /// JSON array of numbers that `engram import` reads back to the same 32-bit floats.
    /// Takes the same filters as `query`. Memories are read page by page, so the size of the
    /// database does not matter. With --output, the export is written to a temporary file
    /// beside FILE and renamed over it only when complete: a failed export leaves FILE as it
    /// was.
    Export(ExportArgs),

    /// Delete the memories (and items) that have expired.
    ///
    /// Reads already leave expired memories out; a sweep deletes them, a batch per
    /// transaction, and prints how many (and then the expired items, with a second line
    /// when there were any). Safe to run from several processes at once (say
    /// from cron on two machines): each expired memory is deleted once, a live one never.
    #[command(
        after_help = "Examples:\n  engram put --user alice --content 'in Lisbon this week' --ttl 604800\n  engram sweep --batch-size 500"
    )]
    Sweep(SweepArgs),

    /// Report the database's health and exit 1 when something needs attention.
    ///
    /// Migrations applied and pending; each table's and index's size; index scans where the
    /// database counts them (PostgreSQL; SQLite keeps no such counter) and indexes never
    /// used; integrity (SQLite `PRAGMA quick_check`; PostgreSQL: no invalid index, and
    /// amcheck's B-tree check where the extension is installed); the containment index
    /// checked against the memories; expired memories and items not yet swept; SQLite's
    /// write-ahead log. Needs attention: pending, failed or unknown migrations, an integrity
    /// problem, an unsound containment index, a memory or item expired over a day ago still
    /// stored (no sweep runs), a WAL over 64 MiB and larger than the database. The report is printed either
    /// way; the error line names each finding.
    #[command(after_help = "Examples:\n  engram health\n  engram health --format json")]
    Health(HealthArgs),

    /// Tier policies: delete memories past their retention, move memories to the next tier
    /// when they age, trim long content.
    #[command(subcommand)]
    Policies(PoliciesCommand),

    /// Embeddings: the store's dimensions, enabling vectors, approximate indexes.
    #[command(subcommand)]
    Vectors(VectorsCommand),
}

/// `engram vectors …`
#[derive(Debug, Subcommand)]
pub enum VectorsCommand {
    /// Show the backend, the store's embedding dimensions, and whether vectors work here.
    ///
    /// Dimensions are fixed by the first embedding stored ("none yet" before). SQLite
    /// always has vectors; PostgreSQL needs the pgvector extension (see `vectors enable`).
    #[command(after_help = "Example:\n  engram vectors status --format json")]
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Make vectors available on a PostgreSQL server that got pgvector after `init-db`.
    ///
    /// Enables the extension in the database and creates engram's embeddings table. Needs
    /// a user allowed to create the extension, unless a superuser already ran
    /// `CREATE EXTENSION vector` in the database. Nothing to do on SQLite.
    #[command(after_help = "Example:\n  engram vectors enable && engram vectors status")]
    Enable,
    /// Create an approximate (HNSW) index for one metric (PostgreSQL only).
    ///
    /// Approximate: faster on large stores, but it may miss some of the true nearest.
    /// Queries use it only when asked with `query --near … --approximate`; others search
    /// exactly. SQLite always searches exactly and has no such index (exit 1). The store
    /// must hold embeddings (at most 2,000 dimensions); an index of the same metric is
    /// replaced. Building takes a while on a large store.
    #[command(
        after_help = "Examples:\n  engram vectors create-index --metric cosine --m 16 --ef-construction 64\n  engram query --near '[0.1, 0.9, 0, 0]' --approximate"
    )]
    CreateIndex {
        /// The metric the index serves.
        #[arg(long, value_enum, default_value_t = MetricArg::Cosine)]
        metric: MetricArg,
        /// pgvector's m: links per node, 2 to 100.
        #[arg(long = "m", value_name = "N", default_value_t = 16)]
        m: u32,
        /// pgvector's ef_construction: candidates while building, 4 to 1000, at least 2 m.
        #[arg(long, value_name = "N", default_value_t = 64)]
        ef_construction: u32,
    },
    /// Drop the approximate index of one metric, if there is one.
    #[command(after_help = "Example:\n  engram vectors drop-index --metric l2")]
    DropIndex {
        /// The metric whose index is dropped.
        #[arg(long, value_enum, default_value_t = MetricArg::Cosine)]
        metric: MetricArg,
    },
}

/// `engram migrate …`
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations, up to the newest or to --to V.
    Up {
        /// Stop after this version.
        #[arg(long, value_name = "V")]
        to: Option<u32>,
        /// Print the SQL that would run, in order, and run nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Revert applied migrations, newest first.
    ///
    /// --steps N reverts the N newest; --to V reverts all newer than V (--to 0 reverts
    /// everything). A down script that drops tables while the database holds memories is
    /// refused unless --yes is given.
    Down(DownArgs),
    /// Show every migration with its state.
    ///
    /// States: applied, pending, changed (its script differs from the one applied), failed
    /// (a no-transaction script failed midway) or unknown (applied by another engram
    /// build). Exits 1 when any is changed, failed or unknown.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// List the applied migrations with when they ran and how long they took.
    History {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Record migrations up to V as applied without running them.
    ///
    /// For a database whose schema was built another way.
    Stamp {
        /// The version to stamp up to (e.g. 1 or 0001).
        #[arg(value_name = "V")]
        target: u32,
    },
    /// Create the files of a new migration.
    ///
    /// Four files: up and down, for PostgreSQL under ROOT/migrations-pg and for SQLite under
    /// ROOT/migrations-sqlite. Does not touch the database.
    New {
        /// The migration's name: lowercase letters, digits and _.
        name: String,
        /// The folder that holds migrations-pg/ and migrations-sqlite/.
        #[arg(long, value_name = "ROOT", default_value = ".")]
        dir: PathBuf,
    },
    /// Clear the failed record of migration V.
    ///
    /// A no-transaction migration that fails midway stays recorded as failed and every
    /// migration command refuses to run; fix the database by hand, then repair it.
    Repair {
        /// The failed version (e.g. 1 or 0001).
        #[arg(value_name = "V")]
        target: u32,
    },
}

/// `engram migrate down …`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["steps", "to"])))]
pub struct DownArgs {
    /// Revert this many of the newest applied migrations.
    #[arg(long, value_name = "N")]
    pub steps: Option<u32>,
    /// Revert every applied migration newer than V.
    #[arg(long, value_name = "V")]
    pub to: Option<u32>,
    /// Revert even when a down script drops tables that hold memories (they are lost).
    #[arg(long)]
    pub yes: bool,
    /// Print the SQL that would run, in order, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `engram policies …`
#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Run the tier policies once and print what each step did.
    ///
    /// All steps run in one transaction.
    /// Without --config the default policies run: short_term memories not updated for
    /// 7 days move to mid_term, mid_term memories not updated for 30 days move to
    /// long_term; short_term content is trimmed to 4000 characters and mid_term content to
    /// 16000; long_term memories are kept as they are. `engram policies show` prints them.
    #[command(
        after_help = "Config file example (a JSON list of tier policies):\n  [{\"tier\": \"short_term\", \"expire_after_secs\": 86400, \"next_tier\": \"mid_term\", \"max_content_chars\": 2000},\n   {\"tier\": \"mid_term\", \"expire_after_secs\": 2592000, \"next_tier\": \"long_term\"}]"
    )]
    Run {
        /// A JSON file with a list of policies (tier, expire_after_secs, next_tier,
        /// max_content_chars).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Print the policies `policies run` would use, as JSON (a starting point for --config).
    Show {
        /// A JSON file with a list of policies, checked and printed.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `engram put …`
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The memory's id (a UUID) instead of a new one. A retry with the same id and fields
    /// stores nothing and succeeds; the same id with other fields is an error.
    #[arg(long, value_name = "UUID")]
    pub id: Option<uuid::Uuid>,
    /// The user the memory belongs to.
    #[arg(long, value_name = "U")]
    pub user: String,
    /// Namespace inside the user's memories [default: default].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// The conversation thread it came from.
    #[arg(long, value_name = "T")]
    pub thread: Option<String>,
    /// Tier, [a-z0-9_]{1,32} [default: short_term].
    #[arg(long, value_name = "T")]
    pub tier: Option<String>,
    /// Importance from 0 to 100 [default: 50].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub score: Option<i32>,
    /// A JSON object, e.g. '{"topic":"food","tags":["tea"]}'.
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,
    /// A related thread (repeat for several).
    #[arg(long = "related", value_name = "T")]
    pub related: Vec<String>,
    /// The text; read from standard input when omitted.
    #[arg(long, value_name = "TEXT")]
    pub content: Option<String>,
    /// The memory's embedding, a JSON array of numbers, e.g. '[0.1, 0.9, 0]'. Every
    /// embedding in a store has the dimensions of the first one stored.
    #[arg(long, value_name = "JSON_ARRAY")]
    pub embedding: Option<String>,
    /// When the memory expires, e.g. 2027-01-01T00:00:00Z: from then on no read returns it,
    /// and `engram sweep` deletes it.
    #[arg(long, value_name = "RFC3339", conflicts_with = "ttl")]
    pub expires_at: Option<String>,
    /// Expire this many seconds after it is stored.
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
}

/// `engram get ID`
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The memory's id (a UUID).
    pub id: String,
    /// Output format: table prints one field per line.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Include the embedding (the table shows its dimensions and first components).
    #[arg(long)]
    pub with_embedding: bool,
}

/// `engram delete ID`
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The memory's id (a UUID).
    pub id: String,
}

/// `engram stats …`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this user's memories.
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// The filters shared by `query` and `export`; all given filters must match.
#[derive(Debug, Args, Default, Clone)]
pub struct FilterArgs {
    /// Only this user's memories.
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
    /// Only this namespace.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Only this thread.
    #[arg(long, value_name = "T")]
    pub thread: Option<String>,
    /// Only these tiers (repeat for any of several).
    #[arg(long = "tier", value_name = "T")]
    pub tiers: Vec<String>,
    /// Only memories with this summarized flag.
    #[arg(long, value_name = "BOOL")]
    pub summarized: Option<bool>,
    /// Only memories whose metadata contains this JSON object (PostgreSQL `@>`).
    #[arg(long = "where", value_name = "JSON")]
    pub where_json: Option<String>,
    /// Only memories whose metadata passes this filter: keys are paths (`customer.tier`),
    /// values are bare (equality; objects match partially) or operators `$eq` `$ne` `$gt`
    /// `$gte` `$lt` `$lte` `$in` `$nin` `$exists` `$contains`; numbers compare as numbers.
    /// Example: '{"n": {"$gt": 9}, "customer.tier": {"$in": ["gold", "silver"]}}'.
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
    /// Only memories related to this thread (repeat for any of several).
    #[arg(long = "related", value_name = "T")]
    pub related: Vec<String>,
    /// Only memories created at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub created_from: Option<String>,
    /// Only memories created before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub created_until: Option<String>,
    /// Only memories updated at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub updated_from: Option<String>,
    /// Only memories updated before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub updated_until: Option<String>,
}

/// `engram query …`
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Which memories.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Result order (ties broken by id in the same direction).
    #[arg(long, value_enum, default_value_t = OrderArg::UpdatedDesc)]
    pub order: OrderArg,
    /// At most this many results.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Skip this many results first (with --near: this many of the nearest).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u64,
    /// Print only how many memories match the filters.
    #[arg(long)]
    pub count: bool,
    /// Rank by distance to this vector (a JSON array of numbers, the store's dimensions)
    /// instead of ordering by time.
    #[arg(long, value_name = "JSON_ARRAY", conflicts_with_all = ["order", "limit", "count"])]
    pub near: Option<String>,
    /// With --near: how many of the nearest [default: 10].
    #[arg(long, value_name = "N", requires = "near")]
    pub k: Option<u64>,
    /// With --near: the distance [default: cosine].
    #[arg(long, value_enum, requires = "near")]
    pub metric: Option<MetricArg>,
    /// With --near: let an approximate index answer (PostgreSQL, after `engram vectors
    /// create-index` for the metric; it may miss some of the true nearest). Exact otherwise.
    #[arg(long, requires = "near")]
    pub approximate: bool,
    /// Output format: a table, a JSON array, JSON Lines, or one id per line.
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
}

/// `engram import …`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSON Lines file, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// Lines per transaction.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
}

/// `engram export …`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Which memories.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Export expired memories too (those `engram sweep` has not deleted yet), with their
    /// `expires_at`: an import stores them expired.
    #[arg(long)]
    pub include_expired: bool,
}

/// `engram history …`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The memory's id (a UUID).
    #[arg(required_unless_present = "prune_before")]
    pub id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Delete the events older than this time (RFC 3339) and print how many.
    #[arg(long, value_name = "RFC3339", conflicts_with = "id")]
    pub prune_before: Option<String>,
}

/// `engram health …`
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `engram sweep …`
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Memories deleted per transaction.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
}

/// Output formats of commands that print records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable.
    Table,
    /// Pretty-printed JSON.
    Json,
    /// One compact JSON value per line.
    Jsonl,
}

/// Output formats of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// Human-readable table.
    Table,
    /// A JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// One id per line.
    Ids,
}

/// `--metric` values: pgvector's three distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Cosine distance, 1 - cos(angle): 0 for the same direction, up to 2.
    Cosine,
    /// Euclidean distance.
    L2,
    /// Negative inner product: -(a · b), smaller is nearer.
    Inner,
}

impl From<MetricArg> for engram::Metric {
    fn from(metric: MetricArg) -> Self {
        match metric {
            MetricArg::Cosine => engram::Metric::Cosine,
            MetricArg::L2 => engram::Metric::L2,
            MetricArg::Inner => engram::Metric::NegativeInnerProduct,
        }
    }
}

/// `--order` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// Most recently updated first.
    UpdatedDesc,
    /// Least recently updated first.
    UpdatedAsc,
    /// Newest first.
    CreatedDesc,
    /// Oldest first.
    CreatedAsc,
}

impl From<OrderArg> for engram::Order {
    fn from(order: OrderArg) -> Self {
        match order {
            OrderArg::UpdatedDesc => engram::Order::UpdatedDesc,
            OrderArg::UpdatedAsc => engram::Order::UpdatedAsc,
            OrderArg::CreatedDesc => engram::Order::CreatedDesc,
            OrderArg::CreatedAsc => engram::Order::CreatedAsc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
