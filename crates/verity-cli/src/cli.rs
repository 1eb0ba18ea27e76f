//! The command line's flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Chat with any model from the terminal.
///
/// `verity "prompt"` answers once; `verity` alone starts an interactive chat.
/// Exit codes: 0 success, 1 the model or the run failed, 2 usage error, 130 Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "verity", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// The prompt; `-` reads it from stdin. Without one, an interactive chat starts
    /// (or the prompt is read from stdin when it is not a terminal).
    pub prompt: Option<String>,

    /// The model: `openai:gpt-4o`, `anthropic:claude-sonnet-4-5`, `ollama:llama3.2`,
    /// `test`, `local`, ... Default: `$VERITY_MODEL`, else the first provider whose key
    /// is set, else the local model.
    #[arg(short, long, env = "VERITY_MODEL")]
    pub model: Option<String>,

    /// List the known model prefixes and which keys are set.
    #[arg(long)]
    pub list_models: bool,

    /// Instructions for the model (the system prompt).
    #[arg(short, long)]
    pub instructions: Option<String>,

    /// A JSON schema file: the answer is structured output validated against it,
    /// printed as JSON.
    #[arg(long, value_name = "FILE")]
    pub output_schema: Option<PathBuf>,

    /// Thinking: `--thinking` alone is on; `--thinking=LEVEL` takes off, minimal, low,
    /// medium, high, xhigh, max, or a token budget.
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, require_equals = true, default_missing_value = "on")]
    pub thinking: Option<String>,

    /// The most tokens the model may answer with.
    #[arg(long)]
    pub max_tokens: Option<u32>,

    /// Sampling temperature.
    #[arg(long)]
    pub temperature: Option<f64>,

    /// Plain text: no Markdown rendering (the default when stdout is not a terminal).
    #[arg(long)]
    pub no_markdown: bool,

    /// Continue the last conversation.
    #[arg(short = 'c', long = "continue", conflicts_with = "resume")]
    pub continue_last: bool,

    /// Continue the conversation with this id (or a unique prefix of it).
    #[arg(long, value_name = "ID")]
    pub resume: Option<String>,

    /// A JSON history file (PydanticAI's message format): loaded when it exists, and
    /// written back after every answer.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,

    /// Do not save this conversation in the sessions database.
    #[arg(long)]
    pub no_save: bool,

    /// MCP servers from a file in the `mcpServers` JSON format.
    #[arg(long, value_name = "FILE")]
    pub mcp_config: Option<PathBuf>,

    /// An MCP server started as a command ("CMD ARGS"); may be repeated.
    #[arg(long, value_name = "CMD ARGS")]
    pub mcp_stdio: Vec<String>,

    /// An MCP server over streamable HTTP; may be repeated.
    #[arg(long, value_name = "URL")]
    pub mcp_http: Vec<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the saved conversations, the newest first.
    Sessions {
        /// How many to list.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
    },
    /// Evaluate an agent on a dataset file (see `verity eval run --help`).
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Run a dataset (YAML or JSON) through its agent and print the report.
    ///
    /// The task runs the agent the file's `agent:` section describes (`model`,
    /// `instructions`, `output_schema`) with each case's inputs as the prompt (a string
    /// as it is, anything else as JSON). Exit codes: 0 success, 1 a run failed, 2 usage
    /// error, 3 a regression against `--baseline` past `--threshold`.
    Run(EvalRunArgs),
}

#[derive(Debug, clap::Args)]
pub struct EvalRunArgs {
    /// The dataset file (.yaml, .yml or .json).
    pub dataset: PathBuf,

    /// The model, over the file's `agent.model`. Default: the file's, else
    /// `$VERITY_MODEL`, else as for chat.
    #[arg(short, long)]
    pub model: Option<String>,

    /// The model of LLM judges that name none. Default: the task's model.
    #[arg(long, value_name = "MODEL")]
    pub judge_model: Option<String>,

    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,

    /// A report saved with `--save`: print the differences, and exit 3 when the
    /// assertion pass rate or a score's average fell by more than `--threshold` (or
    /// more cases failed).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// How far (absolute, 0.05 = five points) a rate or score may fall before it is a
    /// regression.
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f64,

    /// Cases run at once.
    #[arg(short = 'j', long, default_value_t = 4)]
    pub concurrency: usize,

    /// Runs of each case (the report shows means and spreads).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,

    /// Retries of a failed run.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,

    /// Show the evaluators' reasons.
    #[arg(long)]
    pub reasons: bool,

    /// Show each case's inputs.
    #[arg(long)]
    pub inputs: bool,
}
