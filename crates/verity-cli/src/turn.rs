//! One exchange with the model, and the state a conversation keeps between exchanges.

use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::Value;
use verity::messages::ModelResponsePart;
use verity::settings::{Thinking, ThinkingEffort};
use verity::stream::PartDelta;
use verity::{Agent, AgentEvent, ModelMessage, ModelRef, ModelSettings, OutputSpec, RunUsage};
use verity_mcp::McpServer;

use crate::cli::Cli;
use crate::error::CliError;
use crate::render::{Sink, Spinner};
use crate::session::{self, Store};

/// How a turn ended.
pub enum Outcome {
    /// The answer is complete.
    Done,
    /// Ctrl-C cancelled it.
    Cancelled,
}

/// A conversation: the model, the settings, the history and where it is saved.
pub struct Context {
    pub model_name: String,
    model: ModelRef,
    instructions: Option<String>,
    settings: ModelSettings,
    schema: Option<(String, String, Value)>,
    pub markdown: bool,
    pub history: Vec<ModelMessage>,
    pub usage: RunUsage,
    pub last_answer: Option<String>,
    session_id: String,
    title: Option<String>,
    store: Option<Store>,
    history_file: Option<PathBuf>,
    mcp: Vec<McpServer>,
}

impl Context {
    pub fn new(cli: &Cli, _runtime: &tokio::runtime::Runtime) -> Result<Self, CliError> {
        let mut settings = ModelSettings::new();
        if let Some(n) = cli.max_tokens {
            settings = settings.max_tokens(n);
        }
        if let Some(t) = cli.temperature {
            settings = settings.temperature(t);
        }
        if let Some(t) = cli.thinking.as_deref() {
            settings = settings.thinking(parse_thinking(t)?);
        }
        let schema = cli.output_schema.as_deref().map(read_schema).transpose()?;
        let mcp = mcp_servers(cli)?;

        let store = if cli.no_save && !cli.continue_last && cli.resume.is_none() {
            None
        } else {
            Some(Store::open()?)
        };
        let mut session_id = Store::new_id();
        let mut history = Vec::new();
        let mut saved_model = None;
        let mut title = None;
        if let Some(store) = &store {
            let loaded = if cli.continue_last {
                Some(store.last()?.ok_or_else(|| {
                    CliError::usage("no saved session to continue (see `verity sessions`)")
                })?)
            } else {
                cli.resume.as_deref().map(|id| store.get(id)).transpose()?
            };
            if let Some(loaded) = loaded {
                session_id = loaded.id;
                history = loaded.messages;
                saved_model = Some(loaded.model);
                title = Some(loaded.title);
            }
        }
        if let Some(path) = &cli.history {
            let from_file = session::load_history_file(path)?;
            if !from_file.is_empty() {
                history = from_file;
            }
        }
        let model_name = cli
            .model
            .clone()
            .or(saved_model)
            .unwrap_or_else(crate::models::default_model_name);
        let model = crate::models::resolve(&model_name)?;
        Ok(Self {
            model_name,
            model,
            instructions: cli.instructions.clone(),
            settings,
            schema,
            markdown: !cli.no_markdown && std::io::stdout().is_terminal(),
            history,
            usage: RunUsage::default(),
            last_answer: None,
            session_id,
            title,
            store: if cli.no_save { None } else { store },
            history_file: cli.history.clone(),
            mcp,
        })
    }

    /// Switch the model (`/model NAME`).
    pub fn set_model(&mut self, name: &str) -> Result<(), CliError> {
        self.model = crate::models::resolve(name)?;
        self.model_name = name.to_owned();
        Ok(())
    }

    pub fn session_id(&self) -> Option<&str> {
        self.store.as_ref().map(|_| self.session_id.as_str())
    }

    /// `verity "prompt"`: one answer; Ctrl-C exits with 130.
    pub fn one_shot(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        prompt: &str,
    ) -> Result<(), CliError> {
        match runtime.block_on(self.turn(prompt))? {
            Outcome::Done => Ok(()),
            Outcome::Cancelled => Err(CliError::interrupted()),
        }
    }

    /// One exchange: stream the answer (or print the structured output), then save.
    pub async fn turn(&mut self, prompt: &str) -> Result<Outcome, CliError> {
        // one listener for the whole turn, so that no Ctrl-C falls between two polls
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let outcome = if let Some((name, description, schema)) = &self.schema {
            let spec = OutputSpec::from_schema(name.clone(), description.clone(), schema.clone());
            let mut b = Agent::builder(self.model.clone())
                .output_spec(spec)
                .settings(self.settings.clone());
            if let Some(i) = &self.instructions {
                b = b.instructions(i.clone());
            }
            for server in &self.mcp {
                b = b.toolset(server.clone());
            }
            let agent = b.build();
            let mut spinner = Spinner::start(std::io::stdout().is_terminal());
            let run = agent.run(prompt).message_history(self.history.clone());
            let result = tokio::select! {
                r = run => r,
                _ = &mut ctrl_c => {
                    spinner.stop();
                    eprintln!("(cancelled)");
                    return Ok(Outcome::Cancelled);
                }
            };
            spinner.stop();
            let result = result.map_err(CliError::from)?;
            let json = serde_json::to_string_pretty(&result.output)
                .map_err(|e| CliError::run(format!("cannot print the output: {e}")))?;
            outln!("{json}");
            self.usage += result.usage();
            self.history = result.all_messages().to_vec();
            self.last_answer = Some(json);
            Outcome::Done
        } else {
            let mut b = Agent::builder(self.model.clone()).settings(self.settings.clone());
            if let Some(i) = &self.instructions {
                b = b.instructions(i.clone());
            }
            for server in &self.mcp {
                b = b.toolset(server.clone());
            }
            let agent = b.build();
            let mut run = agent
                .run(prompt)
                .message_history(self.history.clone())
                .stream();
            let mut spinner = Spinner::start(std::io::stdout().is_terminal());
            let mut sink = Sink::new(self.markdown);
            let mut events = run.stream_events();
            loop {
                let event = tokio::select! {
                    e = events.next() => e,
                    _ = &mut ctrl_c => {
                        spinner.stop();
                        sink.finish();
                        eprintln!("(cancelled)");
                        return Ok(Outcome::Cancelled);
                    }
                };
                match event {
                    None => break,
                    Some(Err(e)) => {
                        spinner.stop();
                        sink.finish();
                        return Err(e.into());
                    }
                    Some(Ok(AgentEvent::PartStart {
                        part: ModelResponsePart::Text(t),
                        ..
                    })) => {
                        spinner.stop();
                        sink.push(&t.content);
                    }
                    Some(Ok(AgentEvent::PartDelta {
                        delta: PartDelta::Text { content_delta },
                        ..
                    })) => {
                        spinner.stop();
                        sink.push(&content_delta);
                    }
                    Some(Ok(AgentEvent::FunctionToolCall { part, .. })) => {
                        spinner.stop();
                        eprintln!("→ calling tool {}", part.tool_name);
                    }
                    Some(Ok(_)) => {}
                }
            }
            spinner.stop();
            sink.finish();
            let result = run.finish().await.map_err(CliError::from)?;
            self.usage += result.usage();
            self.history = result.all_messages().to_vec();
            self.last_answer = Some(result.output.clone());
            Outcome::Done
        };
        if self.title.is_none() {
            self.title = Some(session::title_of(prompt));
        }
        self.save()?;
        Ok(outcome)
    }

    /// Save the history: in the sessions database and the `--history` file.
    fn save(&self) -> Result<(), CliError> {
        if let Some(store) = &self.store {
            store.save(
                &self.session_id,
                &self.model_name,
                self.title.as_deref().unwrap_or(""),
                &self.history,
            )?;
        }
        if let Some(path) = &self.history_file {
            session::save_history_file(path, &self.history)?;
        }
        Ok(())
    }
}

/// `--thinking LEVEL`.
fn parse_thinking(s: &str) -> Result<Thinking, CliError> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Thinking::On,
        "off" | "false" | "no" => Thinking::Off,
        "minimal" => Thinking::Effort(ThinkingEffort::Minimal),
        "low" => Thinking::Effort(ThinkingEffort::Low),
        "medium" => Thinking::Effort(ThinkingEffort::Medium),
        "high" => Thinking::Effort(ThinkingEffort::High),
        "xhigh" => Thinking::Effort(ThinkingEffort::XHigh),
        "max" => Thinking::Effort(ThinkingEffort::Max),
        other => Thinking::Budget(other.parse().map_err(|_| {
            CliError::usage(format!(
                "--thinking '{other}': expected on, off, minimal, low, medium, high, xhigh, max or a token budget"
            ))
        })?),
    })
}

/// `--output-schema FILE`: the name (the file's stem), description and schema.
fn read_schema(path: &std::path::Path) -> Result<(String, String, Value), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let schema: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("{} is not JSON: {e}", path.display())))?;
    if !schema.is_object() {
        return Err(CliError::usage(format!(
            "{} is not a JSON schema object",
            path.display()
        )));
    }
    let name = schema
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "output".to_owned())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let description = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("The final answer.")
        .to_owned();
    Ok((name, description, schema))
}

/// `--mcp-config`, `--mcp-stdio`, `--mcp-http`.
fn mcp_servers(cli: &Cli) -> Result<Vec<McpServer>, CliError> {
    let mut servers = Vec::new();
    if let Some(path) = &cli.mcp_config {
        servers.extend(
            verity_mcp::load_mcp_servers(path)
                .map_err(|e| CliError::usage(format!("--mcp-config {}: {e}", path.display())))?,
        );
    }
    for command in &cli.mcp_stdio {
        let words = shlex::split(command)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| {
                CliError::usage(format!("--mcp-stdio '{command}': not a command line"))
            })?;
        let mut words = words.into_iter();
        let program = words.next().unwrap_or_default();
        servers.push(McpServer::stdio(program, words).build());
    }
    for url in &cli.mcp_http {
        servers.push(McpServer::http(url.clone()).build());
    }
    Ok(servers)
}
